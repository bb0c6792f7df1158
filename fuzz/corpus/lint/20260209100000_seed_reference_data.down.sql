-- Removes the reference rows added by the seed migration, matched by their
-- natural keys. If real data points at a seeded row (an application for a
-- seeded program, a student whose citizenship is a seeded country), a foreign
-- key stops the delete and the file rolls back. Shortlist entries and
-- scholarships of a seeded program or university go with it (ON DELETE CASCADE).

DELETE FROM scholarships s
USING universities u
WHERE s.university_id = u.id
  AND u.country_code = 'NL' AND u.name = 'University of Amsterdam'
  AND s.title = 'International Excellence Award';

DELETE FROM programs p
USING universities u
WHERE p.university_id = u.id
  AND (u.country_code, u.name, p.title, p.level::text) IN (
      ('DE', 'Technical University of Munich', 'Informatics', 'master'),
      ('CA', 'University of Toronto', 'Civil Engineering', 'bachelor'),
      ('AU', 'University of Melbourne', 'Public Health', 'master'),
      ('GB', 'University of Edinburgh', 'Data Science', 'master'),
      ('NL', 'University of Amsterdam', 'Economics and Business', 'bachelor'));

DELETE FROM universities
WHERE (country_code, name) IN (
    ('DE', 'Technical University of Munich'),
    ('CA', 'University of Toronto'),
    ('AU', 'University of Melbourne'),
    ('GB', 'University of Edinburgh'),
    ('BE', 'KU Leuven'),
    ('NL', 'University of Amsterdam'),
    ('SG', 'National University of Singapore'));

DELETE FROM countries
WHERE code IN ('AU', 'BE', 'BR', 'CA', 'DE', 'GB', 'IN', 'NG', 'NL', 'SG', 'US', 'VN');
