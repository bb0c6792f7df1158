DROP POLICY IF EXISTS tenant_isolation ON documents;
