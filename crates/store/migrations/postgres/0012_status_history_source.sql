-- Where each status history row comes from (issue 13 item 4): 导入 (an imported file or the
-- demo: historical statuses from before the system existed, not checked as transitions),
-- 状态变更 (the status-change door, which allows only the transitions of
-- domain::poverty_status), 退出程序 (the 销号 step of the exit procedure).
ALTER TABLE household_status_history ADD COLUMN source TEXT NOT NULL DEFAULT '';
UPDATE household_status_history SET source = CASE
    WHEN note LIKE '退出程序销号%' THEN '退出程序'
    WHEN note IN ('', '识别', '导入更新') THEN '导入'
    ELSE '状态变更' END;
