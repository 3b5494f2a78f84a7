`timescale 1ns/1ps
// fp_kahan: Kahan-compensated accumulator with every operation rounded to the format (round to
// nearest even): y = u - c; t = w + y; c = (t - w) - y; w = t ("Revisiting BFloat16 Training",
// Zamirai et al., the 16-bit-FPU setting; Kahan 1965). Golden: lowbit.numerics.KahanAccumulator.
// One update per enabled clock; rst_i clears w and c. sum_o/comp_o show the state before the clock.
module fp_kahan #(
    parameter EBITS = 8,
    parameter MBITS = 7,
    parameter BIAS = (1 << (EBITS - 1)) - 1,
    parameter POLICY = 0
) (
    input clk_i,
    input rst_i,
    input en_i,
    input [EBITS+MBITS:0] u_i,
    output reg [EBITS+MBITS:0] sum_o,
    output reg [EBITS+MBITS:0] comp_o
);
    localparam NB = EBITS + MBITS;
    wire [NB:0] y, t, tw, c_next;
    // Subtraction = addition of the operand with its sign flipped (NaN stays NaN).
    fp_add #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(1)) add_y (
        .a_i(u_i), .b_i({~comp_o[NB], comp_o[NB-1:0]}), .mode_i(3'd0), .sat_i(1'b0), .rand_i(1'b0), .y_o(y));
    fp_add #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(1)) add_t (
        .a_i(sum_o), .b_i(y), .mode_i(3'd0), .sat_i(1'b0), .rand_i(1'b0), .y_o(t));
    fp_add #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(1)) add_tw (
        .a_i(t), .b_i({~sum_o[NB], sum_o[NB-1:0]}), .mode_i(3'd0), .sat_i(1'b0), .rand_i(1'b0), .y_o(tw));
    fp_add #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(1)) add_c (
        .a_i(tw), .b_i({~y[NB], y[NB-1:0]}), .mode_i(3'd0), .sat_i(1'b0), .rand_i(1'b0), .y_o(c_next));
    always @(posedge clk_i)
        if (rst_i) begin
            sum_o <= {(NB + 1){1'b0}};
            comp_o <= {(NB + 1){1'b0}};
        end else if (en_i) begin
            sum_o <= t;
            comp_o <= c_next;
        end
endmodule
