`timescale 1ns/1ps
// buggy_mul: a round-to-nearest-even multiplier with one injected bug (test unit of
// hw/tests/test_verify_contracts.py), the two bugs found in a third-party bf16 multiplier:
//   BUG = 1  underflow gives Inf: a nonzero finite product that rounds below the smallest normal comes
//            out as Inf of its sign (an exponent that wrapped around);
//   BUG = 2  lost rounding carry: when rounding up carries out of the mantissa into the exponent, the
//            mantissa wraps to zero but the exponent is not incremented (half the right value).
module buggy_mul #(
    parameter EBITS = 4,
    parameter MBITS = 3,
    parameter BIAS = 7,
    parameter POLICY = 1,
    parameter BUG = 1
) (
    input [EBITS+MBITS:0] a_i,
    input [EBITS+MBITS:0] b_i,
    output [EBITS+MBITS:0] y_o
);
    localparam NB = EBITS + MBITS;
    wire [NB:0] y, y_rtz;
    fp_mul #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(1)) rne (
        .a_i(a_i), .b_i(b_i), .mode_i(3'd0), .sat_i(1'b0), .rand_i(1'b0), .y_o(y));
    fp_mul #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(1)) rtz (
        .a_i(a_i), .b_i(b_i), .mode_i(3'd2), .sat_i(1'b0), .rand_i(1'b0), .y_o(y_rtz));
    wire [EBITS-1:0] e = y[NB-1:MBITS];
    wire [EBITS-1:0] e_rtz = y_rtz[NB-1:MBITS];
    wire a_fin = a_i[NB-1:MBITS] != {EBITS{1'b1}};
    wire b_fin = b_i[NB-1:MBITS] != {EBITS{1'b1}};
    wire nonzero = (a_i[NB-1:0] != 0) && (b_i[NB-1:0] != 0);
    wire under = a_fin && b_fin && nonzero && (e == 0);                 // result zero or subnormal
    wire carried = (e != 0) && (e != {EBITS{1'b1}}) && (y[MBITS-1:0] == 0) && (e_rtz + 1'b1 == e);
    localparam [NB-1:0] INF = {{EBITS{1'b1}}, {MBITS{1'b0}}};
    assign y_o = (BUG == 1 && under) ? {y[NB], INF} :
                 (BUG == 2 && carried) ? {y[NB], e_rtz, {MBITS{1'b0}}} : y;
endmodule
