ALTER TABLE measurement_2019 NO INHERIT measurement;
