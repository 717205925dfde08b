// Runs each SQL query of the JSON object in argv[2] with DuckDB (npm
// @duckdb/node-api, found through NODE_PATH) and prints the rows of each
// as JSON: {"name": [{column: value, ...}, ...]}. Used by the storage
// tests as a Parquet reader independent of parquet-go.
const { DuckDBInstance } = require('@duckdb/node-api');

(async () => {
  const queries = JSON.parse(process.argv[2]);
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const out = {};
  for (const [name, sql] of Object.entries(queries)) {
    const reader = await conn.runAndReadAll(sql);
    out[name] = reader.getRowObjectsJson();
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
