-- sqlite3 workload for tests/real/check-real.sh: a 200,000-row table with two indexes,
-- queries through each, an update and a delete, then an integrity check. The output must
-- match a glibc run line for line; check-real.sh also checks the 'count' and 'after'
-- lines against values it computes itself.
PRAGMA journal_mode=WAL;
PRAGMA cache_size=-65536;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, grp INTEGER NOT NULL,
               name TEXT NOT NULL, payload BLOB);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200000)
INSERT INTO t(id, k, grp, name, payload)
SELECT i, (i * 7919) % 1000003, i % 97,
       printf('name-%06d-%s', (i * 31) % 200000,
              substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26, 1 + i % 17)),
       zeroblob(i % 300)
FROM s;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_grp_name ON t(grp, name);
SELECT 'count', count(*), sum(k), sum(length(name)), sum(length(payload)) FROM t;
SELECT 'range', count(*), sum(id) FROM t WHERE k BETWEEN 1000 AND 500000;
SELECT 'grp', grp, count(*), min(name), max(name) FROM t WHERE grp IN (0, 13, 96)
  GROUP BY grp ORDER BY grp;
SELECT 'top', id, k, name FROM t ORDER BY k DESC LIMIT 5;
SELECT 'join', count(*) FROM t a JOIN t b ON b.k = a.id WHERE a.grp = 5;
UPDATE t SET name = name || '-x' WHERE grp = 7;
DELETE FROM t WHERE id % 10 = 3;
SELECT 'after', count(*), sum(length(name)), total(k) FROM t;
SELECT 'mix', sum(unicode(substr(name, 6, 1)) * id) % 1000000007
  FROM t INDEXED BY t_grp_name WHERE grp BETWEEN 10 AND 20;
SELECT 'group', count(*), sum(c) FROM (SELECT grp, count(*) AS c FROM t GROUP BY grp);
PRAGMA integrity_check;
