`timescale 1ns/1ps
// fp_mul_pipe: pipelined minifloat multiplier, round to nearest even (IEEE 754-2019 section 4.3.1), one
// result per clock, STAGES >= 1 register stages from inputs to y_o (latency STAGES clocks). Golden model:
// lowbit.numerics.arith.mul with the contract "nearest_even, overflow SAT ? saturate : ieee"; defaults are
// bf16 (EBITS 8, MBITS 7, POLICY 0 ieee). It has no mode, saturation or random-bit ports: the contract is
// fixed by parameters, which `lowbit verify --rounding/--overflow` then declares.
//   stage 1  registers the unpacked operands' exact significand product, product exponent, sign and the
//            special-case flags (NaN, Inf, zero);
//   stage 2  (STAGES >= 2) registers the rounded result (lb_fp_round); with STAGES = 1 the rounder sits
//            after the stage-1 registers;
//   stages 3..STAGES  output registers (retiming slack for synthesis).
// valid_i travels with the data to valid_o. rst_ni (active low, synchronous) clears the valid bits.
module fp_mul_pipe #(
    parameter EBITS = 8,
    parameter MBITS = 7,
    parameter BIAS = (1 << (EBITS - 1)) - 1,
    parameter POLICY = 0,
    parameter SAT = 0,
    parameter STAGES = 2
) (
    input clk_i,
    input rst_ni,
    input valid_i,
    input [EBITS+MBITS:0] a_i,
    input [EBITS+MBITS:0] b_i,
    output valid_o,
    output [EBITS+MBITS:0] y_o
);
    localparam NB = EBITS + MBITS;
    localparam EW = EBITS + 4;
    localparam PW = 2 * (MBITS + 1);
    localparam [NB:0] ONE = 1;
    localparam [NB:0] INFMAG = ((ONE << EBITS) - 1) << MBITS;
    localparam [NB:0] NANMAG = (POLICY == 0) ? INFMAG | (ONE << (MBITS - 1)) : (ONE << NB) - 1;
    localparam NOUT = (STAGES > 1) ? STAGES - 1 : 1;   // registers of stages 2..STAGES

    // ---- stage 0 (combinational): unpack and multiply the significands ----
    wire sa, sb, na, nb, ia, ib, za, zb;
    wire [MBITS:0] ma, mb;
    wire signed [EW-1:0] ea, eb;
    lb_fp_unpack #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .EW(EW)) ua (
        .x_i(a_i), .sign_o(sa), .sig_o(ma), .exp_o(ea), .nan_o(na), .inf_o(ia), .zero_o(za));
    lb_fp_unpack #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .EW(EW)) ub (
        .x_i(b_i), .sign_o(sb), .sig_o(mb), .exp_o(eb), .nan_o(nb), .inf_o(ib), .zero_o(zb));
    wire signed [31:0] e0w = ea + eb - 2 * MBITS;

    // ---- stage 1 registers ----
    reg s1_v, s1_s, s1_nan, s1_inf;
    reg [PW-1:0] s1_p;
    reg signed [EW-1:0] s1_e0;
    always @(posedge clk_i) begin
        s1_v <= rst_ni ? valid_i : 1'b0;
        s1_s <= sa ^ sb;
        s1_p <= ma * mb;
        s1_e0 <= e0w[EW-1:0];
        s1_nan <= na | nb | (ia & zb) | (za & ib);
        s1_inf <= ia | ib;
    end

    // ---- rounding ----
    wire [NB:0] rounded;
    lb_fp_round #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(1), .XW(PW),
                  .EW(EW)) rnd (
        .sign_i(s1_s), .x_i(s1_p), .e0_i(s1_e0), .rem_i(1'b0), .mode_i(3'd0), .sat_i(SAT != 0),
        .rand_i(1'b0), .y_o(rounded));
    wire [NB-1:0] inf_or_max = (SAT != 0) ? INFMAG[NB-1:0] - 1'b1 : INFMAG[NB-1:0];
    wire [NB:0] y1 = s1_nan ? {1'b0, NANMAG[NB-1:0]} : s1_inf ? {s1_s, inf_or_max} : rounded;

    generate
        if (STAGES == 1) begin : one
            assign y_o = y1;
            assign valid_o = s1_v;
        end else begin : more
            // stages 2..STAGES: a shift register of NOUT words, yr[k] is stage k + 2
            reg [NB:0] yr [0:NOUT-1];
            reg [NOUT-1:0] vr;
            integer j;
            always @(posedge clk_i) begin
                yr[0] <= y1;
                vr[0] <= rst_ni ? s1_v : 1'b0;
                for (j = 1; j < NOUT; j = j + 1) begin
                    yr[j] <= yr[j-1];
                    vr[j] <= rst_ni ? vr[j-1] : 1'b0;
                end
            end
            assign y_o = yr[NOUT-1];
            assign valid_o = vr[NOUT-1];
        end
    endgenerate
endmodule
