function mpc = case3_triangle
%CASE3_TRIANGLE  The hand-derivable 3-bus check of REFERENCE_DATA.md.
%   Three buses in a triangle, x = 0.1 p.u. on every line (base 100 MVA),
%   a 10 $/MWh unit at bus 1, a 20 $/MWh unit at bus 2, 300 MW of load at
%   bus 3 and a 150 MW limit on line 1-3. DC-OPF: both units at 150 MW,
%   LMPs 10, 20, 30 $/MWh, shadow price of line 1-3 30 $/MWh, cost 4500 $/h.

%% MATPOWER Case Format : Version 2
mpc.version = '2';

%%-----  Power Flow Data  -----%%
%% system MVA base
mpc.baseMVA = 100;

%% bus data
%	bus_i	type	Pd	Qd	Gs	Bs	area	Vm	Va	baseKV	zone	Vmax	Vmin
mpc.bus = [
	1	3	0	0	0	0	1	1	0	230	1	1.1	0.9;
	2	2	0	0	0	0	1	1	0	230	1	1.1	0.9;
	3	1	300	0	0	0	1	1	0	230	1	1.1	0.9;
];

%% generator data
%	bus	Pg	Qg	Qmax	Qmin	Vg	mBase	status	Pmax	Pmin	Pc1	Pc2	Qc1min	Qc1max	Qc2min	Qc2max	ramp_agc	ramp_10	ramp_30	ramp_q	apf
mpc.gen = [
	1	150	0	300	-300	1	100	1	1000	0	0	0	0	0	0	0	0	0	0	0	0;
	2	150	0	300	-300	1	100	1	1000	0	0	0	0	0	0	0	0	0	0	0	0;
];

%% branch data
%	fbus	tbus	r	x	b	rateA	rateB	rateC	ratio	angle	status	angmin	angmax
mpc.branch = [
	1	2	0	0.1	0	0	0	0	0	0	1	-360	360;
	1	3	0	0.1	0	150	150	150	0	0	1	-360	360;
	2	3	0	0.1	0	0	0	0	0	0	1	-360	360;
];

%%-----  OPF Data  -----%%
%% generator cost data
%	1	startup	shutdown	n	x1	y1	...	xn	yn
%	2	startup	shutdown	n	c(n-1)	...	c0
mpc.gencost = [
	2	0	0	2	10	0;
	2	0	0	2	20	0;
];
