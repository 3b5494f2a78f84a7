`timescale 1ns/1ps
// sa_os: R x C output-stationary systolic array (sa_pe) with its operand memories and fold controller,
// computing C[M,N] = A[M,K] B[K,N] (int8 x int8 -> int32 by default). Golden values:
// lowbit.numerics.arith.int_matmul; cycle count: lowbit.sim.systolic_gemm(M, N, K, rows=R, cols=C,
// dataflow="os").cycles, SCALE-Sim's convention (docs/references.md section 10): cycle 0 is the first cycle an
// operand enters the array; a fold streams K operands per row/column with the systolic skew (row i and
// column j start i and j cycles late; missing rows/columns of a partial fold stream bubbles) and ends when
// the last operand of row R-1 reaches PE (R-1, C-1): K + R + C - 2 cycles; folds run back to back, output
// tile after output tile, row-major. cycles_o = index of the last busy cycle = folds * (K+R+C-2) - 1.
// The fold's end is detected from the data (the "last" flag travelling with row R-1's operands), and the
// results are captured into the C memory at the next clock edge, while the next fold enters.
// Host interface: write A (row-major, addr m*K + k) and B (addr k*N + n) with a_we_i/b_we_i, set
// m_i/n_i/k_i, pulse start_i; busy_o falls and done_o rises when the result is in memory; read
// C[m*N + n] on c_data_o (combinational) by c_addr_i.
module sa_os #(
    parameter R = 4,
    parameter C = 4,
    parameter ABITS = 8,
    parameter BBITS = 8,
    parameter ACCBITS = 32,
    parameter MAXM = 16,
    parameter MAXN = 16,
    parameter MAXK = 32
) (
    input clk_i,
    input rst_i,
    input a_we_i,
    input b_we_i,
    input [15:0] addr_i,
    input [ABITS+BBITS-1:0] data_i,
    input [7:0] m_i,
    input [7:0] n_i,
    input [7:0] k_i,
    input start_i,
    input [15:0] c_addr_i,
    output [ACCBITS-1:0] c_data_o,
    output reg busy_o,
    output reg done_o,
    output reg [31:0] cycles_o
);
    localparam AAW = $clog2(MAXM * MAXK), BAW = $clog2(MAXK * MAXN), CAW = $clog2(MAXM * MAXN);
    reg [ABITS-1:0] amem [0:MAXM*MAXK-1];
    reg [BBITS-1:0] bmem [0:MAXK*MAXN-1];
    reg [ACCBITS-1:0] cmem [0:MAXM*MAXN-1];
    assign c_data_o = cmem[c_addr_i[CAW-1:0]];

    // Edge operands and the PE mesh: ha* run along rows (C+1 columns of links), vb* down columns.
    reg [ABITS-1:0] a_edge [0:R-1];
    reg [R-1:0] av_edge, af_edge, al_edge;
    reg [BBITS-1:0] b_edge [0:C-1];
    reg [C-1:0] bv_edge;
    wire [ABITS-1:0] ha [0:R-1][0:C];
    wire hv [0:R-1][0:C];
    wire hf [0:R-1][0:C];
    wire hl [0:R-1][0:C];
    wire [BBITS-1:0] vb [0:R][0:C-1];
    wire vv [0:R][0:C-1];
    wire [ACCBITS-1:0] acc [0:R-1][0:C-1];
    genvar gi, gj;
    generate
        for (gi = 0; gi < R; gi = gi + 1) begin : row
            assign ha[gi][0] = a_edge[gi];
            assign hv[gi][0] = av_edge[gi];
            assign hf[gi][0] = af_edge[gi];
            assign hl[gi][0] = al_edge[gi];
            for (gj = 0; gj < C; gj = gj + 1) begin : col
                if (gi == 0) begin : top
                    assign vb[0][gj] = b_edge[gj];
                    assign vv[0][gj] = bv_edge[gj];
                end
                sa_pe #(.ABITS(ABITS), .BBITS(BBITS), .ACCBITS(ACCBITS)) pe (
                    .clk_i(clk_i), .rst_i(rst_i),
                    .a_i(ha[gi][gj]), .av_i(hv[gi][gj]), .af_i(hf[gi][gj]), .al_i(hl[gi][gj]),
                    .b_i(vb[gi][gj]), .bv_i(vv[gi][gj]),
                    .a_o(ha[gi][gj+1]), .av_o(hv[gi][gj+1]), .af_o(hf[gi][gj+1]), .al_o(hl[gi][gj+1]),
                    .b_o(vb[gi+1][gj]), .bv_o(vv[gi+1][gj]), .acc_o(acc[gi][gj]));
            end
        end
    endgenerate
    // The last flag of row R-1 as PE (R-1, C-1) uses it: that PE's final operand slot of the fold.
    wire fold_end = hl[R-1][C-1];

    reg [7:0] m, n, k;
    reg [15:0] t;                 // cycle within the fold
    reg [7:0] fr, fc;             // output tile (fold) coordinates
    reg [31:0] cyc;               // cycle since the first operand entered
    reg streaming, capture;
    reg [7:0] cap_r, cap_c;
    integer i, j, kk, row_idx, col_idx;

    always @* begin
        for (i = 0; i < R; i = i + 1) begin
            kk = t - i;
            row_idx = fr * R + i;
            av_edge[i] = streaming && kk >= 0 && kk < k && row_idx < m;
            af_edge[i] = kk == 0;
            al_edge[i] = streaming && kk == k - 1;
            a_edge[i] = (kk >= 0 && kk < k && row_idx < m) ? amem[row_idx * k + kk] : {ABITS{1'b0}};
        end
        for (j = 0; j < C; j = j + 1) begin
            kk = t - j;
            col_idx = fc * C + j;
            bv_edge[j] = streaming && kk >= 0 && kk < k && col_idx < n;
            b_edge[j] = (kk >= 0 && kk < k && col_idx < n) ? bmem[kk * n + col_idx] : {BBITS{1'b0}};
        end
    end

    always @(posedge clk_i) begin
        if (a_we_i) amem[addr_i[AAW-1:0]] <= data_i[ABITS-1:0];
        if (b_we_i) bmem[addr_i[BAW-1:0]] <= data_i[BBITS-1:0];
        if (capture)
            for (i = 0; i < R; i = i + 1)
                for (j = 0; j < C; j = j + 1)
                    if (cap_r * R + i < m && cap_c * C + j < n)
                        cmem[(cap_r * R + i) * n + cap_c * C + j] <= acc[i][j];
        if (rst_i) begin
            streaming <= 1'b0;
            capture <= 1'b0;
            busy_o <= 1'b0;
            done_o <= 1'b0;
            t <= 16'd0;
        end else if (start_i && !busy_o) begin
            m <= m_i;
            n <= n_i;
            k <= k_i;
            fr <= 8'd0;
            fc <= 8'd0;
            t <= 16'd0;
            cyc <= 32'd0;
            streaming <= 1'b1;
            capture <= 1'b0;
            busy_o <= 1'b1;
            done_o <= 1'b0;
        end else if (busy_o) begin
            capture <= streaming && fold_end;
            cap_r <= fr;
            cap_c <= fc;
            if (streaming) cyc <= cyc + 1;
            if (streaming && fold_end) begin
                cycles_o <= cyc;              // this cycle is the fold's last busy one
                t <= 16'd0;
                if (fc + 1 < (n + C - 1) / C) fc <= fc + 1;
                else begin
                    fc <= 8'd0;
                    if (fr + 1 < (m + R - 1) / R) fr <= fr + 1;
                    else streaming <= 1'b0;
                end
            end else if (streaming) t <= t + 1;
            if (capture && !streaming) begin
                busy_o <= 1'b0;
                done_o <= 1'b1;
            end
        end
    end
endmodule
