`timescale 1ns/1ps
// lns_dot: the bucketed LNS dot-product unit of the LNS-Madam PE (Zhao et al.; patent US 11,886,980;
// docs/references.md section 10). Golden: lowbit.numerics.lns.lns_dot (acc_o) and lns_dot_code (y_o).
// Each enabled clock takes one pair: e = ma + mb (no bias), q = e >> log2 GAMMA, r = e mod GAMMA; the
// bucket (sign, r >> MB) adds 1 << q (Mitchell: (GAMMA + low MB bits of r) << q); zero operands are
// skipped. acc_o = sum_h TABLE[h << MB] * (bucket+[h] - bucket-[h]), one constant multiply per bucket,
// value = acc_o * 2^-FRAC. y_o converts acc_o back to an LNS code: leading one p, the F+1 bits from it
// (truncated) against the table midpoints ceil((T[j] + T[j+1]) / 2), magnitude
// (p - FRAC + QBIAS) * GAMMA + r clamped to [1, max], sign of acc, 0 for acc = 0. TABLE holds
// T[r] = round(2^(r/GAMMA) * 2^F), r = 0..GAMMA-1, F+2 bits each, from lowbit.numerics.lns.lns_table.
// rst_i clears the buckets; acc_o and y_o show the state before the clock. Operands are never NaN.
// Split in two for synthesis accounting: lns_dot_acc (per pair) and lns_dot_final (per dot product).
module lns_dot #(
    parameter BITS = 8,
    parameter GAMMA = 8,
    parameter QBIAS = 8,
    parameter F = 8,
    parameter MB = 0,
    parameter KBITS = 6,                       // up to 2^KBITS - 1 pairs per dot product
    parameter [GAMMA*(F+2)-1:0] TABLE = 80'h759AF62D6A5313045D00,   // lns8, F = 8
    parameter AW = 2 * ((1 << (BITS - 1)) - 1) / GAMMA + 1 + KBITS + F + (MB > 0 ? $clog2(GAMMA) + 1 : 0) + 2
) (
    input clk_i,
    input rst_i,
    input en_i,
    input [BITS-1:0] a_i,
    input [BITS-1:0] b_i,
    output signed [AW-1:0] acc_o,
    output [BITS-1:0] y_o
);
    localparam NB = GAMMA >> MB;
    localparam BW = (2 * ((1 << (BITS - 1)) - 1)) / GAMMA + 1 + KBITS + (MB > 0 ? $clog2(GAMMA) + 1 : 0);
    wire [2*NB*BW-1:0] buckets;
    lns_dot_acc #(.BITS(BITS), .GAMMA(GAMMA), .MB(MB), .KBITS(KBITS)) acc (
        .clk_i(clk_i), .rst_i(rst_i), .en_i(en_i), .a_i(a_i), .b_i(b_i), .buckets_o(buckets));
    lns_dot_final #(.BITS(BITS), .GAMMA(GAMMA), .QBIAS(QBIAS), .F(F), .MB(MB), .KBITS(KBITS), .TABLE(TABLE),
                    .AW(AW)) fin (.buckets_i(buckets), .acc_o(acc_o), .y_o(y_o));
endmodule

// The per-pair part: one bucket update per enabled clock. buckets_o: positive bucket h at
// [BW*h +: BW], negative bucket h at [BW*(NB+h) +: BW].
module lns_dot_acc #(
    parameter BITS = 8,
    parameter GAMMA = 8,
    parameter MB = 0,
    parameter KBITS = 6
) (
    input clk_i,
    input rst_i,
    input en_i,
    input [BITS-1:0] a_i,
    input [BITS-1:0] b_i,
    output [2*(GAMMA>>MB)*((2*((1<<(BITS-1))-1))/GAMMA+1+KBITS+(MB>0 ? $clog2(GAMMA)+1 : 0))-1:0] buckets_o
);
    localparam MW = BITS - 1;
    localparam RB = $clog2(GAMMA);
    localparam NB = GAMMA >> MB;                       // buckets per sign
    localparam QMAX = (2 * ((1 << MW) - 1)) >> RB;     // largest q of a product
    localparam BW = QMAX + 1 + KBITS + (MB > 0 ? RB + 1 : 0);   // bucket width
    reg [BW-1:0] pos [0:NB-1];
    reg [BW-1:0] neg [0:NB-1];
    wire [MW:0] e = {1'b0, a_i[MW-1:0]} + {1'b0, b_i[MW-1:0]};
    wire [MW-RB:0] q = e[MW:RB];
    wire [RB-1:0] r = e[RB-1:0];
    wire live = (a_i[MW-1:0] != {MW{1'b0}}) && (b_i[MW-1:0] != {MW{1'b0}});
    localparam [RB-1:0] LOWMASK = (1 << MB) - 1;
    wire [BW-1:0] weight = (MB > 0) ? ({{(BW - RB){1'b0}}, r & LOWMASK} + GAMMA) << q
                                    : {{(BW - 1){1'b0}}, 1'b1} << q;
    integer i, hb;
    always @(posedge clk_i)
        if (rst_i)
            for (i = 0; i < NB; i = i + 1) begin
                pos[i] <= {BW{1'b0}};
                neg[i] <= {BW{1'b0}};
            end
        else if (en_i && live) begin
            hb = r >> MB;
            if (a_i[MW] ^ b_i[MW]) neg[hb] <= neg[hb] + weight;
            else pos[hb] <= pos[hb] + weight;
        end
    genvar g;
    generate
        for (g = 0; g < NB; g = g + 1) begin : flat
            assign buckets_o[BW*g +: BW] = pos[g];
            assign buckets_o[BW*(NB+g) +: BW] = neg[g];
        end
    endgenerate
endmodule

// The once-per-dot-product part: one constant multiply per bucket and the back-conversion.
module lns_dot_final #(
    parameter BITS = 8,
    parameter GAMMA = 8,
    parameter QBIAS = 8,
    parameter F = 8,
    parameter MB = 0,
    parameter KBITS = 6,
    parameter [GAMMA*(F+2)-1:0] TABLE = 80'h759AF62D6A5313045D00,
    parameter AW = 2 * ((1 << (BITS - 1)) - 1) / GAMMA + 1 + KBITS + F + (MB > 0 ? $clog2(GAMMA) + 1 : 0) + 2
) (
    input [2*(GAMMA>>MB)*((2*((1<<(BITS-1))-1))/GAMMA+1+KBITS+(MB>0 ? $clog2(GAMMA)+1 : 0))-1:0] buckets_i,
    output reg signed [AW-1:0] acc_o,
    output reg [BITS-1:0] y_o
);
    localparam MW = BITS - 1;
    localparam RB = $clog2(GAMMA);
    localparam NB = GAMMA >> MB;
    localparam BW = ((2 * ((1 << MW) - 1)) >> RB) + 1 + KBITS + (MB > 0 ? RB + 1 : 0);
    localparam FRAC = F + 2 * QBIAS + (MB > 0 ? RB : 0);
    localparam [MW-1:0] MAXMAG = {MW{1'b1}};
    localparam LOG = $clog2(AW);
    integer i, j, p, cnt;
    reg [AW-1:0] mag_acc, mshift, z;
    reg [F:0] m;
    reg [F+2:0] tj, tj1;
    reg signed [31:0] emag;
    always @* begin
        tj = {(F + 3){1'b0}};
        tj1 = {(F + 3){1'b0}};
        acc_o = {AW{1'b0}};
        for (i = 0; i < NB; i = i + 1)
            acc_o = acc_o + $signed({{(AW - F - 2){1'b0}}, TABLE[(F+2)*(i << MB) +: F+2]}) *
                            ($signed({{(AW - BW){1'b0}}, buckets_i[BW*i +: BW]})
                             - $signed({{(AW - BW){1'b0}}, buckets_i[BW*(NB+i) +: BW]}));
        mag_acc = acc_o[AW-1] ? -acc_o : acc_o;
        // Leading one by binary search (LOG steps, not AW: loops are slow in event simulators).
        z = mag_acc;
        p = 0;
        for (i = LOG - 1; i >= 0; i = i - 1)
            if ((z >> (1 << i)) != {AW{1'b0}}) begin
                z = z >> (1 << i);
                p = p + (1 << i);
            end
        mshift = (p >= F) ? mag_acc >> (p - F) : mag_acc << (F - p);
        m = mshift[F:0];
        // r = how many midpoints H[j] = ceil((T[j] + T[j+1]) / 2) (T[GAMMA] = 2^(F+1)) are <= m: the
        // midpoints increase, so a binary search over them (RB + 1 comparisons, a mux tree in hardware).
        cnt = 0;
        for (i = RB; i >= 0; i = i - 1) begin
            j = cnt + (1 << i) - 1;
            if (j < GAMMA) begin
                tj = {1'b0, TABLE[(F+2)*j +: F+2]};
                tj1 = (j == GAMMA - 1) ? (1 << (F + 1)) : {1'b0, TABLE[(F+2)*(j+1) +: F+2]};
                if ({2'b00, m} >= (tj + tj1 + 1) >> 1) cnt = cnt + (1 << i);
            end
        end
        emag = (p - FRAC + QBIAS) * GAMMA + cnt;
        if (acc_o == {AW{1'b0}}) y_o = {BITS{1'b0}};
        else y_o = {acc_o[AW-1], (emag < 1) ? {{(MW - 1){1'b0}}, 1'b1} : (emag > MAXMAG) ? MAXMAG : emag[MW-1:0]};
    end
endmodule
