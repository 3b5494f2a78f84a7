`timescale 1ns/1ps
// fp_add_lfsr: the stochastic-rounding adder with its random source: fp_add's rand_i is fed by lfsr.v,
// which advances once per clock (after rst_i), so vector t (counted from the first cycle after reset)
// uses LFSR word t: lowbit.numerics.lfsr.lfsr_words(n, RBITS, seed=SEED) reproduces it bit for bit.
module fp_add_lfsr #(
    parameter EBITS = 8,
    parameter MBITS = 7,
    parameter BIAS = (1 << (EBITS - 1)) - 1,
    parameter POLICY = 0,
    parameter RBITS = 8,
    parameter LFSR_WIDTH = 32,
    parameter [LFSR_WIDTH-1:0] TAPS = 32'h80200003,
    parameter [LFSR_WIDTH-1:0] SEED = 1
) (
    input clk_i,
    input rst_i,
    input [EBITS+MBITS:0] a_i,
    input [EBITS+MBITS:0] b_i,
    input [2:0] mode_i,
    input sat_i,
    output [EBITS+MBITS:0] y_o
);
    wire [RBITS-1:0] r;
    lfsr #(.WIDTH(LFSR_WIDTH), .TAPS(TAPS), .SEED(SEED), .OUTBITS(RBITS)) rng (
        .clk_i(clk_i), .rst_i(rst_i), .en_i(1'b1), .bits_o(r));
    fp_add #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(RBITS)) add (
        .a_i(a_i), .b_i(b_i), .mode_i(mode_i), .sat_i(sat_i), .rand_i(r), .y_o(y_o));
endmodule
