#!/usr/bin/env node
// @ts-check
/**
 * Writes a Prometheus file_sd targets file for a local Kite cluster from the DIR/cluster.json that
 * `bin/kite cluster up --data-dir DIR` writes: one target group per component process, labelled `component` (its
 * role: proxy, querycoord, querynode, datanode) and `serverID`. deploy/prometheus/prometheus.yml reads the file;
 * Prometheus re-reads it whenever it changes, so rerun this after every `cluster up` (ports are picked afresh).
 *
 * The label is `component`, not `role`: some Kite metrics (kite_querycoord_sessions, kite_querycoord_node_events_total)
 * carry a `role` label of their own (the role of the node they describe), which a target label of the same name
 * would push aside into `exported_role`. `component` is also the label the Helm chart puts on every pod.
 *
 *   node scripts/prometheus-targets.js [--data-dir DIR] [--out FILE] [--host HOST]
 *
 * Defaults: DIR is .kite/cluster (the Makefile's CLUSTER_DIR), FILE is deploy/prometheus/targets.json, HOST is
 * 127.0.0.1 (cluster up binds every component to loopback). Prints the target groups it wrote.
 * Only Node built-ins, so it runs before any build.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..');
const ROLES = ['proxy', 'querycoord', 'querynode', 'datanode'];

/**
 * @typedef {{ role: string, serverID: number, metrics: number }} Component
 * @typedef {{ targets: string[], labels: Record<string, string> }} TargetGroup
 */

/** @param {string[]} argv */
function parseArgs(argv) {
  /** @type {{ dataDir: string, out: string, host: string }} */
  const o = {
    dataDir: path.join(REPO, '.kite', 'cluster'),
    out: path.join(REPO, 'deploy', 'prometheus', 'targets.json'),
    host: '127.0.0.1',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write('usage: node scripts/prometheus-targets.js [--data-dir DIR] [--out FILE] [--host HOST]\n');
      process.exit(0);
    }
    if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value (see --help)`);
    if (flag === '--data-dir') o.dataDir = path.resolve(value);
    else if (flag === '--out') o.out = path.resolve(value);
    else if (flag === '--host') o.host = value;
    else throw new Error(`unknown option ${flag}; the options are --data-dir, --out and --host`);
    i++;
  }
  return o;
}

/**
 * The target groups for a parsed cluster.json: one per component, `component` (the role) and `serverID` as labels.
 * @param {unknown} cluster
 * @param {string} host
 * @param {string} file where the layout came from, for messages
 * @returns {TargetGroup[]}
 */
function targetGroups(cluster, host, file) {
  const components = /** @type {{ components?: unknown }} */ (cluster).components;
  if (!Array.isArray(components) || components.length === 0) {
    throw new Error(`${file} lists no components; is it a cluster.json written by "kite cluster up"?`);
  }
  return components.map((/** @type {Partial<Component>} */ c, i) => {
    if (!c || typeof c.role !== 'string' || !ROLES.includes(c.role)) {
      throw new Error(`${file}: components[${i}].role is ${JSON.stringify(c?.role)}; expected one of ${ROLES.join(', ')}`);
    }
    if (!Number.isInteger(c.metrics) || Number(c.metrics) <= 0) {
      throw new Error(`${file}: components[${i}].metrics is ${JSON.stringify(c.metrics)}; expected the metrics port`);
    }
    if (!Number.isInteger(c.serverID)) {
      throw new Error(`${file}: components[${i}].serverID is ${JSON.stringify(c.serverID)}; expected an integer`);
    }
    return { targets: [`${host}:${c.metrics}`], labels: { component: c.role, serverID: String(c.serverID) } };
  });
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const file = path.join(o.dataDir, 'cluster.json');
  if (!fs.existsSync(file)) {
    throw new Error(`no ${file}; start a cluster with "bin/kite cluster up --data-dir ${o.dataDir}" or pass --data-dir`);
  }
  const groups = targetGroups(JSON.parse(fs.readFileSync(file, 'utf8')), o.host, file);
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  // Write then rename: Prometheus watches the file and must never read half of it.
  const tmp = `${o.out}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(groups, null, 2)}\n`);
  fs.renameSync(tmp, o.out);
  process.stdout.write(`${JSON.stringify({ out: o.out, groups }, null, 2)}\n`);
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    process.stderr.write(`prometheus-targets: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}

module.exports = { targetGroups };
