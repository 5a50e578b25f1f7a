-- Every member carries a 人编号 from the moment it is written (registry_import::
-- assign_member_numbers), so that an export, a GET, never writes one. Members written before
-- that rule and still without a number get theirs here, once, by the same rule: "M" + member id,
-- or "M{id}-n" when a number from an imported file already took that.
UPDATE members SET member_no = 'M' || CAST(members.id AS TEXT)
WHERE member_no IS NULL AND NOT EXISTS (SELECT 1 FROM members o WHERE o.member_no = 'M' || CAST(members.id AS TEXT));
UPDATE members SET member_no = 'M' || CAST(members.id AS TEXT) || '-2'
WHERE member_no IS NULL AND NOT EXISTS (SELECT 1 FROM members o WHERE o.member_no = 'M' || CAST(members.id AS TEXT) || '-2');
UPDATE members SET member_no = 'M' || CAST(members.id AS TEXT) || '-3'
WHERE member_no IS NULL AND NOT EXISTS (SELECT 1 FROM members o WHERE o.member_no = 'M' || CAST(members.id AS TEXT) || '-3');
