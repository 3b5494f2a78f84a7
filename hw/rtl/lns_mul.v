`timescale 1ns/1ps
// lns_mul: logarithmic-number-system multiplier (LNS-Madam, Zhao et al.; patent US 11,886,980):
// sign xor, magnitude-code add minus the bias, saturation to [1, max] at both ends (a product of
// non-zero values never becomes zero); zero if either operand is zero; NaN if either is NaN.
// Code layout (lowbit.numerics.LNSFormat, docs/lns.md): sign | magnitude = q * GAMMA + r; magnitude 0
// is zero (sign 0) or the only NaN (sign 1). Golden: lowbit.numerics.lns.lns_mul.
module lns_mul #(
    parameter BITS = 8,
    parameter GAMMA = 8,
    parameter QBIAS = 8
) (
    input [BITS-1:0] a_i,
    input [BITS-1:0] b_i,
    output [BITS-1:0] y_o
);
    localparam MW = BITS - 1;
    localparam [MW-1:0] MAXMAG = {MW{1'b1}};
    localparam [BITS-1:0] NAN = {1'b1, {MW{1'b0}}};
    wire [MW-1:0] ma = a_i[MW-1:0];
    wire [MW-1:0] mb = b_i[MW-1:0];
    wire signed [31:0] sum = $signed({2'b00, ma}) + $signed({2'b00, mb}) - QBIAS * GAMMA;
    wire [MW-1:0] mag = (sum < 1) ? {{(MW - 1){1'b0}}, 1'b1} : (sum > MAXMAG) ? MAXMAG : sum[MW-1:0];
    assign y_o = (a_i == NAN || b_i == NAN) ? NAN :
                 (ma == {MW{1'b0}} || mb == {MW{1'b0}}) ? {BITS{1'b0}} : {a_i[MW] ^ b_i[MW], mag};
endmodule
