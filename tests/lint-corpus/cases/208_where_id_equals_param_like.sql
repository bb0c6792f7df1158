UPDATE order_items SET unit_price = list_price WHERE unit_price <> list_price AND order_id > 500000;
