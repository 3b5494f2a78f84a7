`timescale 1ns/1ps
// fp_mul: minifloat multiplier for any (EBITS, MBITS), the product rounded once (IEEE 754-2019 section
// 5.4.1; OCP OFP8 v1.0 special values and saturation; OCP MX v1.0 FP6/FP4). Golden model:
// lowbit.numerics.arith.mul. Instantiated for fp8_e4m3fn (4,3,fn), fp8_e5m2 (5,2,ieee),
// fp4_e2m1fn (2,1,none) and bf16 (8,7,ieee) by the tests; parameters come from the lowbit format.
// Specials: NaN in -> NaN; Inf * 0 -> NaN; Inf * x -> signed Inf; NaN out is the canonical positive NaN.
// mode_i/sat_i/rand_i: see lb_fp_round.v (all six rounding modes; saturating or IEEE overflow).
module fp_mul #(
    parameter EBITS = 4,
    parameter MBITS = 3,
    parameter BIAS = (1 << (EBITS - 1)) - 1,
    parameter POLICY = 1,
    parameter RBITS = 8,
    parameter DAZ = 0,
    parameter FTZ = 0,
    parameter TAFTER = 1
) (
    input [EBITS+MBITS:0] a_i,
    input [EBITS+MBITS:0] b_i,
    input [2:0] mode_i,
    input sat_i,
    input [RBITS-1:0] rand_i,
    output [EBITS+MBITS:0] y_o
);
    localparam NB = EBITS + MBITS;
    localparam EW = EBITS + 4;
    localparam PW = 2 * (MBITS + 1);
    localparam [NB:0] ONE = 1;
    localparam [NB:0] INFMAG = ((ONE << EBITS) - 1) << MBITS;
    localparam [NB:0] NANMAG = (POLICY == 0) ? INFMAG | (ONE << (MBITS - 1)) : (ONE << NB) - 1;

    wire sa, sb, na, nb, ia, ib, za, zb;
    wire [MBITS:0] ma, mb;
    wire signed [EW-1:0] ea, eb;
    lb_fp_unpack #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .EW(EW), .DAZ(DAZ)) ua (
        .x_i(a_i), .sign_o(sa), .sig_o(ma), .exp_o(ea), .nan_o(na), .inf_o(ia), .zero_o(za));
    lb_fp_unpack #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .EW(EW), .DAZ(DAZ)) ub (
        .x_i(b_i), .sign_o(sb), .sig_o(mb), .exp_o(eb), .nan_o(nb), .inf_o(ib), .zero_o(zb));

    wire s = sa ^ sb;
    wire [PW-1:0] p = ma * mb;                                   // exact significand product
    wire signed [31:0] e0w = ea + eb - 2 * MBITS;               // exponent of p's LSB
    wire signed [EW-1:0] e0 = e0w[EW-1:0];
    wire [NB:0] rounded;
    lb_fp_round #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(RBITS), .FTZ(FTZ), .TAFTER(TAFTER), .XW(PW),
                  .EW(EW)) rnd (
        .sign_i(s), .x_i(p), .e0_i(e0), .rem_i(1'b0), .mode_i(mode_i), .sat_i(sat_i), .rand_i(rand_i),
        .y_o(rounded));

    wire nan = na | nb | (ia & zb) | (za & ib);
    // Saturation clamps an infinite result to +-max as well (lowbit.numerics Overflow.SATURATE).
    assign y_o = nan ? {1'b0, NANMAG[NB-1:0]} : (ia | ib) ? {s, sat_i ? INFMAG[NB-1:0] - 1'b1 : INFMAG[NB-1:0]} : rounded;
endmodule
