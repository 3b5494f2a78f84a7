`timescale 1ns/1ps
// fp_add: minifloat adder, the exact sum rounded once (IEEE 754-2019 sections 5.4.1, 6.3; stochastic
// rounding of the EXACT sum's dropped bits as in "Revisiting BFloat16 Training", Zamirai et al.).
// Golden model: lowbit.numerics.arith.add. Used as the bf16 adder (EBITS 8, MBITS 7) with round to
// nearest even and stochastic rounding (RBITS random bits on rand_i, fed by lfsr.v in fp_add_lfsr.v).
//
// The smaller operand is aligned below the larger one with W = RBITS + 3 guard bits; the bits shifted
// out beyond them only matter through "are any of them set" (sticky). For an effective subtraction the
// sticky one is subtracted at the last guard position, so x is the exact floor of the sum at that
// position and rem flags the nonzero rest: lb_fp_round then sees the exact dropped bits it needs
// (a cancellation after a shift of two or more positions is at most one bit).
module fp_add #(
    parameter EBITS = 8,
    parameter MBITS = 7,
    parameter BIAS = (1 << (EBITS - 1)) - 1,
    parameter POLICY = 0,
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
    localparam W = RBITS + 3;
    localparam SW = MBITS + 1 + W;                 // aligned significand width
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

    // Order by magnitude: for finite codes the magnitude bits order like the values.
    wire swap = b_i[NB-1:0] > a_i[NB-1:0];
    wire s_big = swap ? sb : sa;
    wire [MBITS:0] m_big = swap ? mb : ma;
    wire [MBITS:0] m_small = swap ? ma : mb;
    wire signed [EW-1:0] e_big = swap ? eb : ea;
    wire signed [EW-1:0] e_small = swap ? ea : eb;
    wire sub = sa ^ sb;

    integer d;
    reg [SW-1:0] aligned_big, full_small, aligned_small;
    reg sticky;
    reg [SW:0] x;
    reg signed [31:0] e0w;
    reg s_res;
    // One always block computes every input of the rounder, so an event simulator evaluates it once.
    always @* begin
        d = e_big - e_small;                       // >= 0
        aligned_big = {m_big, {W{1'b0}}};
        full_small = {m_small, {W{1'b0}}};
        if (d >= SW) begin
            sticky = |full_small;
            aligned_small = {SW{1'b0}};
        end else begin
            sticky = |(full_small & ~({SW{1'b1}} << d));
            aligned_small = full_small >> d;
        end
        if (sub)
            x = {1'b0, aligned_big} - {1'b0, aligned_small} - {{SW{1'b0}}, sticky};
        else
            x = {1'b0, aligned_big} + {1'b0, aligned_small};
        e0w = e_big - MBITS - W;
        // IEEE 754-2019 6.3: an exact zero is -0 only for (-0) + (-0), or x + (-x) rounding toward -inf.
        if (x == {(SW + 1){1'b0}} && !sticky)
            s_res = sub ? (mode_i == 3'd4) : s_big;
        else
            s_res = s_big;
    end

    wire [NB:0] rounded;
    lb_fp_round #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(RBITS), .FTZ(FTZ), .TAFTER(TAFTER), .XW(SW + 1),
                  .EW(EW)) rnd (
        .sign_i(s_res), .x_i(x), .e0_i(e0w[EW-1:0]), .rem_i(sticky),
        .mode_i(mode_i), .sat_i(sat_i), .rand_i(rand_i), .y_o(rounded));

    wire nan = na | nb | (ia & ib & sub);
    // Saturation clamps an infinite result to +-max as well (lowbit.numerics Overflow.SATURATE).
    wire [NB-1:0] inf_or_max = sat_i ? INFMAG[NB-1:0] - 1'b1 : INFMAG[NB-1:0];
    assign y_o = nan ? {1'b0, NANMAG[NB-1:0]} : ia ? {sa, inf_or_max} : ib ? {sb, inf_or_max} : rounded;
endmodule
