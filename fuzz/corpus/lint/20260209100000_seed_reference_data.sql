-- Reference data every environment needs: a first set of countries, a few
-- partner universities, some of their programs and one scholarship, so the
-- catalog pages, the demo and backup/restore round trips have rows to show.
-- Names, cities and websites are real; fees and amounts are illustrative.
-- ON CONFLICT DO NOTHING keeps the file harmless where rows already exist.

INSERT INTO countries (code, name) VALUES
    ('AU', 'Australia'),
    ('BE', 'Belgium'),
    ('BR', 'Brazil'),
    ('CA', 'Canada'),
    ('DE', 'Germany'),
    ('GB', 'United Kingdom'),
    ('IN', 'India'),
    ('NG', 'Nigeria'),
    ('NL', 'Netherlands'),
    ('SG', 'Singapore'),
    ('US', 'United States'),
    ('VN', 'Viet Nam')
ON CONFLICT (code) DO NOTHING;

INSERT INTO universities (name, country_code, city, website) VALUES
    ('Technical University of Munich', 'DE', 'Munich', 'https://www.tum.de'),
    ('University of Toronto', 'CA', 'Toronto', 'https://www.utoronto.ca'),
    ('University of Melbourne', 'AU', 'Melbourne', 'https://www.unimelb.edu.au'),
    ('University of Edinburgh', 'GB', 'Edinburgh', 'https://www.ed.ac.uk'),
    ('KU Leuven', 'BE', 'Leuven', 'https://www.kuleuven.be'),
    ('University of Amsterdam', 'NL', 'Amsterdam', 'https://www.uva.nl'),
    ('National University of Singapore', 'SG', 'Singapore', 'https://www.nus.edu.sg')
ON CONFLICT (country_code, name) DO NOTHING;

INSERT INTO programs (university_id, title, level, subject_area, duration_months,
                      yearly_fee_cents, fee_currency, entry_requirements)
SELECT u.id, p.title, p.level::study_level, p.subject_area, p.duration_months,
       p.yearly_fee_cents, p.fee_currency, p.entry_requirements::jsonb
FROM (VALUES
    ('DE', 'Technical University of Munich', 'Informatics', 'master', 'computer science', 24,
     600000, 'EUR', '{"language": {"test": "IELTS", "min": 6.5}}'),
    ('CA', 'University of Toronto', 'Civil Engineering', 'bachelor', 'engineering', 48,
     6200000, 'CAD', '{"language": {"test": "TOEFL", "min": 100}}'),
    ('AU', 'University of Melbourne', 'Public Health', 'master', 'health sciences', 24,
     4800000, 'AUD', '{"work_experience_years": 1}'),
    ('GB', 'University of Edinburgh', 'Data Science', 'master', 'computer science', 12,
     3900000, 'GBP', '{"degree": "2:1 or equivalent"}'),
    ('NL', 'University of Amsterdam', 'Economics and Business', 'bachelor', 'economics', 36,
     1400000, 'EUR', '{"language": {"test": "IELTS", "min": 6.5}}')
) AS p (country_code, university, title, level, subject_area, duration_months,
        yearly_fee_cents, fee_currency, entry_requirements)
JOIN universities u ON u.country_code = p.country_code AND u.name = p.university
ON CONFLICT (university_id, title, level) DO NOTHING;

INSERT INTO scholarships (university_id, title, amount_cents, currency, eligibility, deadline)
SELECT u.id, 'International Excellence Award', 1000000, 'EUR',
       '{"min_grade_average": 3.5, "levels": ["master"]}'::jsonb, DATE '2026-05-31'
FROM universities u
WHERE u.country_code = 'NL' AND u.name = 'University of Amsterdam'
  AND NOT EXISTS (SELECT 1 FROM scholarships s
                  WHERE s.university_id = u.id AND s.title = 'International Excellence Award');
