CREATE INDEX docs_body_gin ON documents USING gin (to_tsvector('english', body)) WHERE published;
