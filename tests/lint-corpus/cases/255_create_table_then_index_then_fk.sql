CREATE TABLE tags (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE post_tags (post_id bigint NOT NULL, tag_id bigint NOT NULL REFERENCES tags (id));
CREATE INDEX post_tags_tag_idx ON post_tags (tag_id);
ALTER TABLE post_tags ADD CONSTRAINT post_tags_pk PRIMARY KEY (post_id, tag_id);
