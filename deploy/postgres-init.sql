-- One database per service (each service owns its data; no shared tables).
CREATE DATABASE kemensos;
CREATE DATABASE emis;
CREATE DATABASE dapodik;
CREATE DATABASE hub;
