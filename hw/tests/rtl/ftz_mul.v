`timescale 1ns/1ps
// ftz_mul: a flush-to-zero multiplier as most hardware builds them: round to nearest even only, IEEE
// overflow, subnormal operands read as zero (DAZ) and tiny results flushed to zero with tininess detected
// before rounding (FTZ). No mode, saturation or random-bit ports: its contract is declared instead
// (`--subnormals ftz_daz --tininess before`). Test unit of hw/tests/test_verify_contracts.py.
module ftz_mul #(
    parameter EBITS = 4,
    parameter MBITS = 3,
    parameter BIAS = 7,
    parameter POLICY = 1
) (
    input [EBITS+MBITS:0] a_i,
    input [EBITS+MBITS:0] b_i,
    output [EBITS+MBITS:0] y_o
);
    fp_mul #(.EBITS(EBITS), .MBITS(MBITS), .BIAS(BIAS), .POLICY(POLICY), .RBITS(1), .DAZ(1), .FTZ(1),
             .TAFTER(0)) u (
        .a_i(a_i), .b_i(b_i), .mode_i(3'd0), .sat_i(1'b0), .rand_i(1'b0), .y_o(y_o));
endmodule
