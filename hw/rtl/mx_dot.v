`timescale 1ns/1ps
// mx_dot: OCP Microscaling (MX v1.0, section 6) block dot product: K elements of an fp8/fp6/fp4 format per
// operand, each block with its E8M0 scale, result = Xa * Xb * sum_k a_k * b_k rounded ONCE to fp32 (round
// to nearest even, IEEE overflow). Golden: lowbit.numerics.arith.mx_dot. The products are summed exactly
// in a fixed-point accumulator wide enough for every product of the format (no intermediate rounding).
// Specials: a NaN element or a NaN scale (0xFF), Inf * 0 or +Inf + -Inf -> NaN; another Inf product ->
// that Inf; an exactly zero sum -> +0. Packing: element k at a_i[N*k +: N], N = 1 + EBITS + MBITS.
module mx_dot #(
    parameter EBITS = 4,
    parameter MBITS = 3,
    parameter BIAS = (1 << (EBITS - 1)) - 1,
    parameter POLICY = 1,
    parameter K = 32
) (
    input [(1+EBITS+MBITS)*K-1:0] a_i,
    input [(1+EBITS+MBITS)*K-1:0] b_i,
    input [7:0] sa_i,
    input [7:0] sb_i,
    output [31:0] y_o
);
    localparam N = 1 + EBITS + MBITS;
    localparam EW = EBITS + 4;
    localparam EMIN = 1 - BIAS;
    localparam EFMAX = (1 << EBITS) - 1 - BIAS;       // largest exponent field value, unbiased
    localparam PW = 2 * (MBITS + 1);
    localparam AW = PW + 2 * (EFMAX - EMIN) + $clog2(K) + 1;   // |sum| < 2^AW in units of 2^(2(EMIN-MBITS))

    wire [K-1:0] sa, sb, na, nb, ia, ib, za, zb;
    wire [(MBITS+1)*K-1:0] ma, mb;
    wire [EW*K-1:0] ea, eb;
    genvar g;
    generate
        for (g = 0; g < K; g = g + 1) begin : el
            lb_fp_unpack #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .EW(EW)) ua (
                .x_i(a_i[N*g +: N]), .sign_o(sa[g]), .sig_o(ma[(MBITS+1)*g +: MBITS+1]), .exp_o(ea[EW*g +: EW]),
                .nan_o(na[g]), .inf_o(ia[g]), .zero_o(za[g]));
            lb_fp_unpack #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .EW(EW)) ub (
                .x_i(b_i[N*g +: N]), .sign_o(sb[g]), .sig_o(mb[(MBITS+1)*g +: MBITS+1]), .exp_o(eb[EW*g +: EW]),
                .nan_o(nb[g]), .inf_o(ib[g]), .zero_o(zb[g]));
        end
    endgenerate

    integer k, shift;
    reg signed [AW:0] acc, term;
    reg [PW-1:0] prod;
    reg nan, pinf, ninf, neg;
    reg [AW-1:0] mag;
    reg signed [31:0] e0w;
    always @* begin
        acc = {(AW + 1){1'b0}};
        nan = (sa_i == 8'hFF) || (sb_i == 8'hFF);
        pinf = 1'b0;
        ninf = 1'b0;
        for (k = 0; k < K; k = k + 1) begin
            prod = ma[(MBITS+1)*k +: MBITS+1] * mb[(MBITS+1)*k +: MBITS+1];
            shift = {{(32 - EW){ea[EW*k+EW-1]}}, ea[EW*k +: EW]} + {{(32 - EW){eb[EW*k+EW-1]}}, eb[EW*k +: EW]}
                    - 2 * EMIN;
            term = {{(AW + 1 - PW){1'b0}}, prod} << shift;
            if (na[k] | nb[k] | (ia[k] & zb[k]) | (za[k] & ib[k])) nan = 1'b1;
            else if (ia[k] | ib[k]) begin
                if (sa[k] ^ sb[k]) ninf = 1'b1;
                else pinf = 1'b1;
            end else if (sa[k] ^ sb[k]) acc = acc - term;
            else acc = acc + term;
        end
        neg = acc[AW];
        mag = neg ? -acc[AW-1:0] : acc[AW-1:0];
        e0w = 2 * (EMIN - MBITS) + sa_i + sb_i - 254;
    end

    wire [31:0] rounded;
    lb_fp_round #(.EBITS(8), .MBITS(23), .BIAS(127), .POLICY(0), .RBITS(1), .XW(AW), .EW(12)) rnd (
        .sign_i(neg), .x_i(mag), .e0_i(e0w[11:0]), .rem_i(1'b0), .mode_i(3'd0), .sat_i(1'b0), .rand_i(1'b0),
        .y_o(rounded));
    assign y_o = (nan | (pinf & ninf)) ? 32'h7FC00000 : pinf ? 32'h7F800000 : ninf ? 32'hFF800000 : rounded;
endmodule
