// sv_mul: a SystemVerilog wrapper (logic, always_comb) of lowbit's fp_mul for fp4_e2m1fn, round to nearest
// even only; its bias comes from a define (-D LB_BIAS=1) and its policy from an include file
// (include/lb_cfg.svh, found through -I). Test unit of tests/hw_tools/test_verify_cli.py and docs/hw.md.
`include "lb_cfg.svh"
module sv_mul (input logic [3:0] a_i, input logic [3:0] b_i, output logic [3:0] y_o);
    logic [3:0] y;
    fp_mul #(.EBITS(2), .MBITS(1), .BIAS(`LB_BIAS), .POLICY(`LB_POLICY), .RBITS(1)) u (
        .a_i(a_i), .b_i(b_i), .mode_i(3'd0), .sat_i(1'b0), .rand_i(1'b0), .y_o(y));
    always_comb y_o = y;
endmodule
