`timescale 1ns/1ps
// sa_pe: output-stationary systolic-array processing element (Kung & Leiserson 1979; the OS dataflow of
// SCALE-Sim, Samajdar et al. 2018/2020). Operands arrive from the left (a, with valid/first/last flags)
// and from above (b, with valid), are used in the same cycle and passed on registered, so a wavefront
// moves one PE per cycle. acc <= (first ? 0 : acc) + a * b on a cycle where both operands are valid;
// signed ABITS x BBITS products, ACCBITS two's-complement accumulator (wraps).
module sa_pe #(
    parameter ABITS = 8,
    parameter BBITS = 8,
    parameter ACCBITS = 32
) (
    input clk_i,
    input rst_i,
    input [ABITS-1:0] a_i,
    input av_i,
    input af_i,
    input al_i,
    input [BBITS-1:0] b_i,
    input bv_i,
    output reg [ABITS-1:0] a_o,
    output reg av_o,
    output reg af_o,
    output reg al_o,
    output reg [BBITS-1:0] b_o,
    output reg bv_o,
    output reg [ACCBITS-1:0] acc_o
);
    wire signed [ABITS+BBITS-1:0] prod = $signed(a_i) * $signed(b_i);
    wire [ACCBITS-1:0] prod_ext = {{(ACCBITS - ABITS - BBITS){prod[ABITS+BBITS-1]}}, prod};
    always @(posedge clk_i) begin
        if (rst_i) begin
            av_o <= 1'b0;
            af_o <= 1'b0;
            al_o <= 1'b0;
            bv_o <= 1'b0;
            acc_o <= {ACCBITS{1'b0}};
        end else begin
            av_o <= av_i;
            af_o <= af_i;
            al_o <= al_i;
            bv_o <= bv_i;
            if (av_i && bv_i) acc_o <= (af_i ? {ACCBITS{1'b0}} : acc_o) + prod_ext;
        end
        a_o <= a_i;
        b_o <= b_i;
    end
endmodule
