`timescale 1ns/1ps
// ternary_mac: multiply-free MAC for ternary weights (BitNet b1.58, Ma et al. 2024): a trit code
// w_i (2-bit two's complement: 01 = +1, 11 = -1, 00 = 0; 10 is unused and skipped) adds, subtracts or
// skips the signed activation x_i. Golden: lowbit.numerics.arith.ternary_dot. ACCBITS wraps mod 2^ACCBITS.
// One term per enabled clock; rst_i clears; acc_o shows the sum before the clock.
module ternary_mac #(
    parameter XBITS = 8,
    parameter ACCBITS = 24
) (
    input clk_i,
    input rst_i,
    input en_i,
    input [1:0] w_i,
    input [XBITS-1:0] x_i,
    output reg [ACCBITS-1:0] acc_o
);
    wire [ACCBITS-1:0] xs = {{(ACCBITS - XBITS){x_i[XBITS-1]}}, x_i};
    always @(posedge clk_i)
        if (rst_i) acc_o <= {ACCBITS{1'b0}};
        else if (en_i)
            case (w_i)
                2'b01: acc_o <= acc_o + xs;
                2'b11: acc_o <= acc_o - xs;
                default: acc_o <= acc_o;
            endcase
endmodule
