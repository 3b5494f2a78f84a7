`timescale 1ns/1ps
// lfsr: Galois linear-feedback shift register, the random source for stochastic rounding
// (maximal-length tap masks from the table in Xilinx XAPP052 / Wikipedia "Linear-feedback shift
// register"; default x^32 + x^22 + x^2 + x + 1 = mask 32'h80200003). Python model: lowbit.numerics.lfsr.
// One step: out = s[0]; s = (s >> 1) ^ (out ? TAPS : 0). bits_o holds the next OUTBITS output bits,
// first bit in the MSB; each enabled clock consumes them (OUTBITS steps, unrolled). rst_i loads SEED.
module lfsr #(
    parameter WIDTH = 32,
    parameter [WIDTH-1:0] TAPS = 32'h80200003,
    parameter [WIDTH-1:0] SEED = 1,
    parameter OUTBITS = 8
) (
    input clk_i,
    input rst_i,
    input en_i,
    output reg [OUTBITS-1:0] bits_o
);
    reg [WIDTH-1:0] state, s;
    integer j;
    always @* begin
        s = state;
        for (j = OUTBITS - 1; j >= 0; j = j - 1) begin
            bits_o[j] = s[0];
            s = (s >> 1) ^ (s[0] ? TAPS : {WIDTH{1'b0}});
        end
    end
    always @(posedge clk_i)
        if (rst_i) state <= SEED;
        else if (en_i) state <= s;
endmodule
