-- A member may be registered with a 20-digit 残疾人证号 instead of an ID number (issue 13
-- item 12): its first 18 digits are the holder's ID number (kept in id_number, so uniqueness,
-- masking and clash rules apply unchanged); the last two, category (1–7) and grade (1–4), are
-- kept here. Disability is sensitive personal information: shown only in masked form or to
-- callers who may reveal the ID number.
ALTER TABLE members ADD COLUMN disability_suffix TEXT;
