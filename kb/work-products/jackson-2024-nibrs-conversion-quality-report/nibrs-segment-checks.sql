-- NIBRS segment quality checks
-- Crime Analysis Unit. PostgreSQL syntax; SQL Server notes marked "MSSQL:".
--
-- Adapt the staging table and column names below to your RMS extract. One row per:
--   nibrs_incident      (incident_id, ori, incident_date, cleared_exceptionally,
--                        exceptional_clearance_date, submission_date)          -- Administrative segment
--   nibrs_offense       (incident_id, ucr_offense_code, attempted_completed,
--                        location_type_code)                                   -- Offense segment
--   nibrs_offense_weapon(incident_id, ucr_offense_code, weapon_code)          -- Type Weapon/Force Involved
--   nibrs_property      (incident_id, property_loss_type, property_description_code,
--                        property_value)                                       -- Property segment
--   nibrs_victim        (incident_id, victim_seq, victim_type, age_code, sex_code,
--                        circumstance_code_1)                                  -- Victim segment
--   nibrs_victim_offense(incident_id, victim_seq, ucr_offense_code)           -- victim connected to offense
--   nibrs_victim_rel    (incident_id, victim_seq, offender_seq, relationship_code)
--   nibrs_offender      (incident_id, offender_seq, age_code, sex_code, race_code)  -- Offender segment
--   nibrs_arrestee      (incident_id, arrestee_seq, arrest_date)              -- Arrestee segment
--   ref_offense         (ucr_offense_code, offense_name, crime_against, property_required)
--                        crime_against in ('Person','Property','Society'); property_required 'Y'/'N'
--
-- Code values used (from the FBI NIBRS technical specification):
--   victim_type: I individual, L law enforcement officer, S society/public, B business, ...
--   property_loss_type: 1 none, 5 recovered, 6 seized, 7 stolen, 8 unknown, ...
--   weapon_code: 11-15 firearms, 95 unknown, 99 none
--   location_type_code 25 = other/unknown
--   offender_seq 0 = nothing known about the offender
--
-- The checks run over everything in the staging tables: load one month's extract at a time,
-- or add a date filter on nibrs_incident.incident_date where needed.

-- 0. What is in the extract
SELECT COUNT(*) AS incidents, MIN(incident_date) AS first_date, MAX(incident_date) AS last_date
FROM nibrs_incident;

-- ---------------------------------------------------------------------------
-- 1-3. Structure: incidents missing a required segment
-- ---------------------------------------------------------------------------
SELECT 'no_offense_segment' AS check_name, COUNT(*) AS n
FROM nibrs_incident i
WHERE NOT EXISTS (SELECT 1 FROM nibrs_offense o WHERE o.incident_id = i.incident_id)
UNION ALL
SELECT 'no_victim_segment', COUNT(*)
FROM nibrs_incident i
WHERE NOT EXISTS (SELECT 1 FROM nibrs_victim v WHERE v.incident_id = i.incident_id)
UNION ALL
SELECT 'no_offender_segment', COUNT(*)
FROM nibrs_incident i
WHERE NOT EXISTS (SELECT 1 FROM nibrs_offender f WHERE f.incident_id = i.incident_id);

-- ---------------------------------------------------------------------------
-- 4. Multi-offense incidents (information): what the SRS hierarchy rule used to hide
-- ---------------------------------------------------------------------------
SELECT offenses_in_incident, COUNT(*) AS incidents
FROM (
    SELECT incident_id, COUNT(DISTINCT ucr_offense_code) AS offenses_in_incident
    FROM nibrs_offense
    GROUP BY incident_id
) t
GROUP BY offenses_in_incident
ORDER BY offenses_in_incident;

-- ---------------------------------------------------------------------------
-- 5. Location type coded other/unknown, by offense (high rates = form default problem)
-- ---------------------------------------------------------------------------
SELECT o.ucr_offense_code,
       COUNT(*) AS offenses,
       SUM(CASE WHEN o.location_type_code = '25' THEN 1 ELSE 0 END) AS other_unknown,
       ROUND(100.0 * SUM(CASE WHEN o.location_type_code = '25' THEN 1 ELSE 0 END) / COUNT(*), 1)
           AS pct_other_unknown
FROM nibrs_offense o
GROUP BY o.ucr_offense_code
HAVING COUNT(*) >= 20
ORDER BY pct_other_unknown DESC;

-- ---------------------------------------------------------------------------
-- 6. Murder (09A) and aggravated assault (13A) with no weapon, or weapon "none" (99)
--    Flag for review; an aggravated assault with no weapon is usually a coding error.
-- ---------------------------------------------------------------------------
SELECT o.incident_id, o.ucr_offense_code,
       STRING_AGG(w.weapon_code, ';') AS weapons   -- MSSQL 2017+: STRING_AGG works too
FROM nibrs_offense o
LEFT JOIN nibrs_offense_weapon w
       ON w.incident_id = o.incident_id AND w.ucr_offense_code = o.ucr_offense_code
WHERE o.ucr_offense_code IN ('09A', '13A')
GROUP BY o.incident_id, o.ucr_offense_code
HAVING COUNT(w.weapon_code) = 0
    OR SUM(CASE WHEN w.weapon_code = '99' THEN 1 ELSE 0 END) > 0;

-- ---------------------------------------------------------------------------
-- 7. Victims of 09A/13A without an aggravated assault/homicide circumstance code
-- ---------------------------------------------------------------------------
SELECT vo.ucr_offense_code, COUNT(*) AS victims_missing_circumstance
FROM nibrs_victim_offense vo
JOIN nibrs_victim v ON v.incident_id = vo.incident_id AND v.victim_seq = vo.victim_seq
WHERE vo.ucr_offense_code IN ('09A', '13A')
  AND (v.circumstance_code_1 IS NULL OR v.circumstance_code_1 = '')
GROUP BY vo.ucr_offense_code;

-- ---------------------------------------------------------------------------
-- 8. Crimes against persons whose victim is not an individual (I) or officer (L)
-- ---------------------------------------------------------------------------
SELECT vo.incident_id, vo.victim_seq, vo.ucr_offense_code, v.victim_type
FROM nibrs_victim_offense vo
JOIN nibrs_victim v ON v.incident_id = vo.incident_id AND v.victim_seq = vo.victim_seq
JOIN ref_offense r ON r.ucr_offense_code = vo.ucr_offense_code
WHERE r.crime_against = 'Person'
  AND v.victim_type NOT IN ('I', 'L');

-- ---------------------------------------------------------------------------
-- 9. Crimes against society whose victim is not society/public (S)
-- ---------------------------------------------------------------------------
SELECT vo.incident_id, vo.victim_seq, vo.ucr_offense_code, v.victim_type
FROM nibrs_victim_offense vo
JOIN nibrs_victim v ON v.incident_id = vo.incident_id AND v.victim_seq = vo.victim_seq
JOIN ref_offense r ON r.ucr_offense_code = vo.ucr_offense_code
WHERE r.crime_against = 'Society'
  AND v.victim_type <> 'S';

-- ---------------------------------------------------------------------------
-- 10. Victim-to-offender relationship missing when an offender is known
--     (crimes against persons and robbery; offender_seq 0 means nothing known)
-- ---------------------------------------------------------------------------
WITH eligible AS (
    SELECT DISTINCT v.incident_id, v.victim_seq
    FROM nibrs_victim v
    JOIN nibrs_victim_offense vo ON vo.incident_id = v.incident_id AND vo.victim_seq = v.victim_seq
    JOIN ref_offense r ON r.ucr_offense_code = vo.ucr_offense_code
    WHERE v.victim_type IN ('I', 'L')
      AND (r.crime_against = 'Person' OR vo.ucr_offense_code = '120')
      AND EXISTS (SELECT 1 FROM nibrs_offender f
                  WHERE f.incident_id = v.incident_id AND f.offender_seq > 0)
)
SELECT COUNT(*) AS eligible_victims,
       SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM nibrs_victim_rel rel
                                 WHERE rel.incident_id = e.incident_id
                                   AND rel.victim_seq = e.victim_seq)
                THEN 1 ELSE 0 END) AS missing_relationship
FROM eligible e;

-- ---------------------------------------------------------------------------
-- 11. Offenders with age, sex and race all unknown (information, by offense)
-- ---------------------------------------------------------------------------
SELECT o.ucr_offense_code,
       COUNT(*) AS offenders,
       SUM(CASE WHEN f.age_code = '00' AND f.sex_code = 'U' AND f.race_code = 'U'
                THEN 1 ELSE 0 END) AS all_unknown
FROM nibrs_offender f
JOIN nibrs_offense o ON o.incident_id = f.incident_id
WHERE f.offender_seq > 0
GROUP BY o.ucr_offense_code
ORDER BY all_unknown DESC;

-- ---------------------------------------------------------------------------
-- 12. Property-crime offenses with no property segment
--     (ref_offense.property_required = 'Y' for offenses that need one, e.g. 120, 220, 23x, 240)
-- ---------------------------------------------------------------------------
SELECT o.ucr_offense_code, COUNT(DISTINCT o.incident_id) AS incidents_missing_property
FROM nibrs_offense o
JOIN ref_offense r ON r.ucr_offense_code = o.ucr_offense_code
WHERE r.property_required = 'Y'
  AND o.attempted_completed = 'C'
  AND NOT EXISTS (SELECT 1 FROM nibrs_property p WHERE p.incident_id = o.incident_id)
GROUP BY o.ucr_offense_code;

-- ---------------------------------------------------------------------------
-- 13. Stolen items with no value. NIBRS uses $1 for "value unknown", so 0 or blank
--     means the field was skipped; also report the $1 share.
-- ---------------------------------------------------------------------------
SELECT COUNT(*) AS stolen_items,
       SUM(CASE WHEN p.property_value IS NULL OR p.property_value = 0 THEN 1 ELSE 0 END) AS no_value,
       SUM(CASE WHEN p.property_value = 1 THEN 1 ELSE 0 END) AS value_unknown_1_dollar
FROM nibrs_property p
WHERE p.property_loss_type = '7';

-- 13b. Vehicle-taken robberies (how carjackings surface in NIBRS): robbery (120) with a
--      stolen motor vehicle (03 automobiles, 05 buses, 24 other motor vehicles,
--      28 recreational vehicles, 37 trucks). Compare with any local carjacking flag.
SELECT DATE_TRUNC('month', i.incident_date) AS month,     -- MSSQL: DATEFROMPARTS(YEAR(..), MONTH(..), 1)
       COUNT(DISTINCT i.incident_id) AS vehicle_robberies
FROM nibrs_incident i
JOIN nibrs_offense o ON o.incident_id = i.incident_id AND o.ucr_offense_code = '120'
JOIN nibrs_property p ON p.incident_id = i.incident_id
WHERE p.property_loss_type = '7'
  AND p.property_description_code IN ('03', '05', '24', '28', '37')
GROUP BY 1
ORDER BY 1;

-- ---------------------------------------------------------------------------
-- 14. Impossible dates
-- ---------------------------------------------------------------------------
SELECT 'incident_in_future' AS check_name, COUNT(*) AS n
FROM nibrs_incident WHERE incident_date > CURRENT_DATE
UNION ALL
SELECT 'incident_after_submission', COUNT(*)
FROM nibrs_incident WHERE submission_date IS NOT NULL AND incident_date > submission_date
UNION ALL
SELECT 'clearance_before_incident', COUNT(*)
FROM nibrs_incident
WHERE exceptional_clearance_date IS NOT NULL AND exceptional_clearance_date < incident_date;

-- ---------------------------------------------------------------------------
-- 15. Cleared exceptionally (any code other than N = not applicable) but an arrestee exists
-- ---------------------------------------------------------------------------
SELECT i.incident_id, i.cleared_exceptionally, MIN(a.arrest_date) AS first_arrest
FROM nibrs_incident i
JOIN nibrs_arrestee a ON a.incident_id = i.incident_id
WHERE i.cleared_exceptionally IS NOT NULL AND i.cleared_exceptionally <> 'N'
GROUP BY i.incident_id, i.cleared_exceptionally;

-- ---------------------------------------------------------------------------
-- Monthly rate wrapper: apply any count above per month and per 100 incidents, e.g. check 5
-- ---------------------------------------------------------------------------
SELECT DATE_TRUNC('month', i.incident_date) AS month,
       COUNT(DISTINCT i.incident_id) AS incidents,
       SUM(CASE WHEN o.location_type_code = '25' THEN 1 ELSE 0 END) AS other_unknown_offenses,
       ROUND(100.0 * SUM(CASE WHEN o.location_type_code = '25' THEN 1 ELSE 0 END)
             / COUNT(*), 1) AS pct_of_offenses
FROM nibrs_incident i
JOIN nibrs_offense o ON o.incident_id = i.incident_id
GROUP BY 1
ORDER BY 1;
