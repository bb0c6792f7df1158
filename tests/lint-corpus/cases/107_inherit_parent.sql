ALTER TABLE measurement_2019 INHERIT measurement;
