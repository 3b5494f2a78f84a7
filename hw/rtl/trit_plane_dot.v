`timescale 1ns/1ps
// trit_plane_dot: PTQTP trit-plane dot product ("Post-Training Quantization to Trit-Planes"; lowbit
// numerics/ternary.py fit_trit_planes): y = sum_p s_p * (T_p . x). The inner products over N elements use
// only add/subtract/skip (no multiplier); one multiply per plane applies its fixed-point scale.
// Golden: lowbit.numerics.arith.trit_plane_dot. Packing: trit (p, n) at t_i[2*(p*N+n) +: 2],
// x_n at x_i[XBITS*n +: XBITS], scale s_p at s_i[SBITS*p +: SBITS] (all two's complement).
module trit_plane_dot #(
    parameter N = 16,
    parameter P = 2,
    parameter XBITS = 8,
    parameter SBITS = 16
) (
    input [2*P*N-1:0] t_i,
    input [XBITS*N-1:0] x_i,
    input [SBITS*P-1:0] s_i,
    output [XBITS+SBITS+$clog2(N)+$clog2(P)+1:0] y_o
);
    localparam DW = XBITS + $clog2(N) + 1;           // |T.x| <= N * 2^(XBITS-1)
    localparam YW = XBITS + SBITS + $clog2(N) + $clog2(P) + 2;
    integer p, n;
    reg signed [DW-1:0] dot, xn;
    reg signed [SBITS-1:0] sp;
    reg signed [SBITS+DW-1:0] prod;                   // a SBITS x DW multiplier per plane
    reg signed [YW-1:0] acc;
    always @* begin
        acc = {YW{1'b0}};
        for (p = 0; p < P; p = p + 1) begin
            dot = {DW{1'b0}};
            for (n = 0; n < N; n = n + 1) begin
                xn = {{(DW - XBITS){x_i[XBITS*n+XBITS-1]}}, x_i[XBITS*n +: XBITS]};
                case (t_i[2*(p*N+n) +: 2])
                    2'b01: dot = dot + xn;
                    2'b11: dot = dot - xn;
                    default: dot = dot;
                endcase
            end
            sp = s_i[SBITS*p +: SBITS];
            prod = sp * dot;
            acc = acc + {{(YW - SBITS - DW){prod[SBITS+DW-1]}}, prod};
        end
    end
    assign y_o = acc;
endmodule
