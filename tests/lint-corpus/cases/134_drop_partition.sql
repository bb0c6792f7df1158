DROP TABLE measurements_2019;
