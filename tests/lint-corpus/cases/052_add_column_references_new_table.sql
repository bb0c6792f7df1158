CREATE TABLE coupons (id bigint PRIMARY KEY);
CREATE TABLE coupon_uses (id bigint PRIMARY KEY, coupon_id bigint REFERENCES coupons (id));
