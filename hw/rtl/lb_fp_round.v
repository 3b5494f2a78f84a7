`timescale 1ns/1ps
// lb_fp_round: round an exact magnitude once onto a minifloat grid (IEEE 754-2019 sections 4.3 and 7.4;
// OCP OFP8 v1.0 for the "fn" NaN-only and saturating encodings). Every lowbit float unit ends here, so
// this module carries the one rounding truth table of the RTL (as fpnew keeps one rounding module).
//
// The exact magnitude is (x_i + f) * 2^e0_i with f = 0 when rem_i = 0 and 0 < f < 1 when rem_i = 1
// (callers that had to drop bits keep x_i as the floor and flag the rest, see fp_add.v). The result
// has the caller's sign; NaN results are the format's canonical positive NaN. Zero in: signed zero out.
//
// Rounding modes (mode_i; numbering = lowbit.numerics.rounding.MODE_ID): 0 nearest-even, 1 nearest-away,
// 2 toward zero, 3 toward +inf, 4 toward -inf, 5 stochastic (round the magnitude up iff
// rand_i < the top RBITS bits of the dropped fraction, "Revisiting BFloat16 Training"). 6, 7 act as 0.
// Overflow: sat_i = 1 clamps to +-max; sat_i = 0 follows IEEE 754 section 7.4 by mode (Inf, or NaN where
// the format has no Inf, or max). POLICY: 0 ieee (Inf and NaNs), 1 fn (S.1..1.1..1 is NaN, no Inf),
// 2 none (no Inf/NaN: always saturates). Widths are derived from the parameters.
// FTZ = 1 flushes a tiny result to a zero of the result's sign (IEEE 754-2019 section 7.5 tininess:
// TAFTER = 0 "before rounding", the exact magnitude is below 2^EMIN; TAFTER = 1 "after rounding", it is
// still below 2^EMIN when rounded to MBITS+1 bits with an unbounded exponent). Golden model:
// lowbit.numerics.arith (subnormals="ftz", tininess=...).
module lb_fp_round #(
    parameter EBITS = 8,
    parameter MBITS = 7,
    parameter BIAS = (1 << (EBITS - 1)) - 1,
    parameter POLICY = 0,
    parameter RBITS = 8,
    parameter XW = 16,
    parameter EW = EBITS + 4,
    parameter FTZ = 0,
    parameter TAFTER = 1
) (
    input sign_i,
    input [XW-1:0] x_i,
    input signed [EW-1:0] e0_i,
    input rem_i,
    input [2:0] mode_i,
    input sat_i,
    input [RBITS-1:0] rand_i,
    output reg [EBITS+MBITS:0] y_o
);
    localparam NB = EBITS + MBITS;              // magnitude bits
    localparam DW = RBITS + 2;                  // dropped-fraction bits kept exactly
    localparam YW = XW + DW + MBITS + 1;        // shifter width (left shifts are at most MBITS)
    localparam EMIN = 1 - BIAS;
    localparam EFMAX_U = (1 << EBITS) - 1 - BIAS;           // unbiased exponent of the all-ones field
    localparam [NB:0] ONE = 1;
    localparam [NB:0] INFMAG = ((ONE << EBITS) - 1) << MBITS;
    localparam [NB:0] MAXMAG = (POLICY == 0) ? INFMAG - 1 : (POLICY == 1) ? (ONE << NB) - 2 : (ONE << NB) - 1;
    localparam [NB:0] NANMAG = (POLICY == 0) ? INFMAG | (ONE << (MBITS - 1)) : (ONE << NB) - 1;

    integer i, lead, er, ebase, sh, fld;
    localparam LOG = (XW > 1) ? $clog2(XW) : 1;
    reg [XW-1:0] z;
    reg [YW-1:0] xe, y;
    reg sticky, half, rest, inc;
    reg [MBITS+1:0] k;
    reg [DW-1:0] d;
    reg [NB:0] mag;
    reg ovf, to_max;
    reg tiny, half_u, rest_u, inc_u;

    always @* begin
        // Leading one by binary search: LOG steps rather than XW (loops are slow in event simulators).
        z = x_i;
        lead = 0;
        for (i = LOG - 1; i >= 0; i = i - 1)
            if ((z >> (1 << i)) != {XW{1'b0}}) begin
                z = z >> (1 << i);
                lead = lead + (1 << i);
            end
        if (x_i == {XW{1'b0}}) lead = -1;
        er = $signed(e0_i) + lead;
        ebase = (er > EMIN) ? er : EMIN;
        sh = ebase - MBITS - $signed(e0_i);      // right shift that puts the result's LSB at bit DW
        xe = {{(MBITS + 1){1'b0}}, x_i, {DW{1'b0}}};
        sticky = rem_i;
        if (sh >= YW) begin
            sticky = sticky | (|xe);
            y = {YW{1'b0}};
        end else if (sh >= 0) begin
            sticky = sticky | (|(xe & ~({YW{1'b1}} << sh)));
            y = xe >> sh;
        end else begin
            y = xe << (-sh);
        end
        k = y[DW+MBITS+1:DW];
        d = y[DW-1:0];
        half = d[DW-1];
        rest = (|d[DW-2:0]) | sticky;
        case (mode_i)
            3'd1: inc = half;
            3'd2: inc = 1'b0;
            3'd3: inc = ~sign_i & (half | rest);
            3'd4: inc = sign_i & (half | rest);
            3'd5: inc = rand_i < d[DW-1:DW-RBITS];
            default: inc = half & (rest | k[0]);
        endcase
        // Field of the result's binade minus one: the hidden bit in k (or a rounding carry) adds it back.
        fld = ebase + BIAS - 1;                  // in [0, 2^EBITS - 2] unless er > EFMAX_U (overflow)
        mag = {{(NB + 1 - EBITS){1'b0}}, fld[EBITS-1:0]};
        mag = (mag << MBITS) + {{(NB - MBITS - 1){1'b0}}, k} + {{NB{1'b0}}, inc};
        ovf = (lead >= 0) && ((er > EFMAX_U) || (mag > MAXMAG));
        // Tininess. Below the smallest normal the kept bits k are the subnormal significand; with an
        // unbounded exponent one more bit (the top dropped one) would be kept, and only the binade just
        // under 2^EMIN (er = EMIN - 1) can round up to 2^EMIN: when all those MBITS+1 bits are ones.
        half_u = d[DW-2];
        rest_u = (|d[DW-3:0]) | sticky;
        case (mode_i)
            3'd1: inc_u = half_u;
            3'd2: inc_u = 1'b0;
            3'd3: inc_u = ~sign_i & (half_u | rest_u);
            3'd4: inc_u = sign_i & (half_u | rest_u);
            3'd5: inc_u = rand_i < d[DW-2:DW-1-RBITS];
            default: inc_u = half_u;            // the kept bits are all ones (odd): a tie rounds up
        endcase
        tiny = (lead >= 0) && (er < EMIN);
        if (TAFTER != 0 && er == EMIN - 1 && (&k[MBITS-1:0]) && d[DW-1] && inc_u)
            tiny = 1'b0;
        to_max = sat_i || (POLICY == 2) || (mode_i == 3'd2) || (mode_i == 3'd3 && sign_i) ||
                 (mode_i == 3'd4 && !sign_i);
        if (lead < 0 || (FTZ != 0 && tiny))
            y_o = {sign_i, {NB{1'b0}}};
        else if (!ovf)
            y_o = {sign_i, mag[NB-1:0]};
        else if (to_max)
            y_o = {sign_i, MAXMAG[NB-1:0]};
        else if (POLICY == 0)
            y_o = {sign_i, INFMAG[NB-1:0]};
        else
            y_o = {1'b0, NANMAG[NB-1:0]};
    end
endmodule
