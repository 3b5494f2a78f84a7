`timescale 1ns/1ps
// export_mx_dot: one output of y = W x read from the $readmemh images of `lowbit export --format memh`
// (docs/export.md, default layout: one code per line, C order of the manifest's layout). Elements are an
// OCP MX v1.0 block format (element x 2^(scale - 127), one e8m0 scale per BLOCK elements along K):
//   weight codes  mem_w[n*KP + k]     weight scales  mem_ws[n*NB + k/BLOCK]
//   input codes   mem_a[k]            input scales   mem_as[k/BLOCK]        (KP = K padded to blocks)
// Elements are split by the hw unit lb_fp_unpack; each product sig_w*sig_a*2^e is added exactly into a
// fixed-point accumulator with FRAC fraction bits (lost_o flags a product that would need more).
module export_mx_dot #(
    parameter EBITS = 2,
    parameter MBITS = 1,
    parameter BIAS = 1,
    parameter POLICY = 2,
    parameter K = 64,
    parameter N = 4,
    parameter BLOCK = 32,
    parameter FRAC = 48,
    parameter ACC_W = 112,
    parameter W_CODES = "w_codes.memh",
    parameter W_SCALES = "w_scales.memh",
    parameter A_CODES = "a_codes.memh",
    parameter A_SCALES = "a_scales.memh"
) (
    input clk_i,
    input rst_i,
    input start_i,
    input [15:0] row_i,
    output reg done_o,
    output reg lost_o,
    output reg signed [ACC_W-1:0] acc_o
);
    localparam B = 1 + EBITS + MBITS;
    localparam EW = EBITS + 4;
    localparam KP = ((K + BLOCK - 1) / BLOCK) * BLOCK;
    localparam NB = KP / BLOCK;
    localparam AWW = $clog2(N * KP + 1), AWS = $clog2(N * NB + 1), AKA = $clog2(KP + 1), AKS = $clog2(NB + 1);

    reg [B-1:0] mem_w [0:N*KP-1];
    reg [7:0] mem_ws [0:N*NB-1];
    reg [B-1:0] mem_a [0:KP-1];
    reg [7:0] mem_as [0:NB-1];
    initial begin
        $readmemh(W_CODES, mem_w);
        $readmemh(W_SCALES, mem_ws);
        $readmemh(A_CODES, mem_a);
        $readmemh(A_SCALES, mem_as);
    end

    reg busy;
    reg [15:0] k, row;
    wire [31:0] iw = row * KP + k, iws = row * NB + k / BLOCK, ia = {16'd0, k}, ias = k / BLOCK;
    wire [B-1:0] wc = mem_w[iw[AWW-1:0]];
    wire [B-1:0] ac = mem_a[ia[AKA-1:0]];
    wire [7:0] wsc = mem_ws[iws[AWS-1:0]];
    wire [7:0] asc = mem_as[ias[AKS-1:0]];

    wire w_s, a_s, w_nan, a_nan, w_inf, a_inf, w_zero, a_zero;
    wire [MBITS:0] w_sig, a_sig;
    wire signed [EW-1:0] w_e, a_e;
    lb_fp_unpack #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY)) unpack_w (
        .x_i(wc), .sign_o(w_s), .sig_o(w_sig), .exp_o(w_e), .nan_o(w_nan), .inf_o(w_inf), .zero_o(w_zero));
    lb_fp_unpack #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY)) unpack_a (
        .x_i(ac), .sign_o(a_s), .sig_o(a_sig), .exp_o(a_e), .nan_o(a_nan), .inf_o(a_inf), .zero_o(a_zero));

    // value = (-1)^s sig 2^(e - MBITS) 2^(scale - 127); the product's weight in units of 2^-FRAC:
    wire signed [31:0] we32 = w_e;
    wire signed [31:0] ae32 = a_e;
    wire signed [31:0] sh = we32 + ae32 + $signed({24'd0, wsc}) + $signed({24'd0, asc}) - 254 - 2 * MBITS + FRAC;
    wire [2*MBITS+1:0] prod = w_sig * a_sig;
    wire [ACC_W-1:0] mag = {{(ACC_W - 2*MBITS - 2){1'b0}}, prod} << sh[7:0];
    wire signed [ACC_W-1:0] term = (w_s ^ a_s) ? -$signed(mag) : $signed(mag);

    always @(posedge clk_i) begin
        if (rst_i) begin
            busy <= 1'b0; done_o <= 1'b0; lost_o <= 1'b0; acc_o <= 0; k <= 0; row <= 0;
        end else if (start_i) begin
            busy <= 1'b1; done_o <= 1'b0; lost_o <= 1'b0; acc_o <= 0; k <= 0; row <= row_i;
        end else if (busy) begin
            acc_o <= acc_o + term;
            if ((prod != 0 && (sh < 0 || sh > ACC_W - 2*MBITS - 3)) || w_nan || a_nan || w_inf || a_inf)
                lost_o <= 1'b1;
            if (k == K - 1) begin
                busy <= 1'b0;
                done_o <= 1'b1;
            end
            k <= k + 1;
        end
    end
endmodule
