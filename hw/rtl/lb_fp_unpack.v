`timescale 1ns/1ps
// lb_fp_unpack: split a minifloat code into sign, significand and unbiased exponent, and classify it
// (IEEE 754-2019 section 3.4; OCP OFP8 v1.0 for the "fn" encoding; OCP MX v1.0 for FP6/FP4 "none").
// Value of a finite code = (-1)^sign * sig_o * 2^(exp_o - MBITS), with sig_o carrying the hidden bit
// for normal codes and exp_o = 1 - BIAS for subnormals. POLICY: 0 ieee, 1 fn, 2 none (as lb_fp_round).
// DAZ = 1 ("denormals are zero"): a subnormal code reads as a zero of its sign (sig_o = 0, zero_o = 1).
module lb_fp_unpack #(
    parameter EBITS = 8,
    parameter MBITS = 7,
    parameter BIAS = (1 << (EBITS - 1)) - 1,
    parameter POLICY = 0,
    parameter EW = EBITS + 4,
    parameter DAZ = 0
) (
    input [EBITS+MBITS:0] x_i,
    output sign_o,
    output [MBITS:0] sig_o,
    output signed [EW-1:0] exp_o,
    output nan_o,
    output inf_o,
    output zero_o
);
    wire [EBITS-1:0] e = x_i[EBITS+MBITS-1:MBITS];
    wire [MBITS-1:0] m = x_i[MBITS-1:0];
    wire e_ones = &e;
    wire e_zero = ~|e;
    localparam signed [31:0] EB = BIAS;
    wire signed [31:0] ex = e_zero ? 1 - EB : $signed({{(32 - EBITS){1'b0}}, e}) - EB;
    assign sign_o = x_i[EBITS+MBITS];
    wire daz = (DAZ != 0) && e_zero;
    assign sig_o = daz ? {(MBITS + 1){1'b0}} : {~e_zero, m};
    assign exp_o = ex[EW-1:0];
    assign nan_o = (POLICY == 0) ? (e_ones & (|m)) : (POLICY == 1) ? (e_ones & (&m)) : 1'b0;
    assign inf_o = (POLICY == 0) ? (e_ones & ~(|m)) : 1'b0;
    assign zero_o = e_zero & (~(|m) | daz);
endmodule
