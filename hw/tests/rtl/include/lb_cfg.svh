// Included by sv_mul.sv (-I hw/tests/rtl/include): fp4_e2m1fn has no Inf/NaN (policy 2, "none").
`define LB_POLICY 2
