/**
 * Network partitions for the chaos tests, made of Linux network namespaces and veth pairs that the test creates and
 * removes itself. Nothing here is reachable from outside the machine:
 *
 * - Each namespace (`NetLab.namespace`) gets one veth pair to the host, with a /30 of link-local addresses
 *   (169.254.X.4k+1 on the host end, 169.254.X.4k+2 inside). A process started in it listens on and advertises
 *   the inside address; the host's processes reach it there.
 * - Inside, the loopback interface is up without 127.0.0.1, and 127.0.0.0/8 is routed through the veth pair to the
 *   host (`route_localnet` on both ends lets loopback addresses cross it). So a process in the namespace reaches
 *   etcd, Kafka and every component of the cluster at the same `127.0.0.1:<port>` addresses as a process on the
 *   host, with no change to their configuration; the host does no forwarding (`ip_forward` stays as it is).
 * - Two namespaces reach each other only through a veth pair of their own (`NetLab.link`): the host does not route
 *   between namespaces.
 * - A partition is an iptables DROP rule inside a namespace (`Namespace.cut`): packets vanish, as on a real
 *   partition, so callers see timeouts rather than refused connections. Established connections are cut too. Each
 *   cut is removed again by `heal()`.
 *
 * Namespaces are named `kitepart-<pid of the test process>-<n>` and host ends `kp<pid base 36>h<n>`, so runs do
 * not collide; `NetLab.create` first removes the namespaces and links of earlier runs whose process is gone (a
 * crashed or killed test), `dispose` removes this run's (also from a process 'exit' hook), and removing a
 * namespace removes its veth pairs with it.
 *
 * Needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN: `unavailableReason()` says why it cannot run, for a test to
 * skip with that reason.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const NS_PREFIX = 'kitepart-';
const LINK_PREFIX = 'kp';
/** Third octets of 169.254.X.0/24 this module picks from (one /24 per run; 64 namespaces or links each). */
const OCTETS = { from: 200, to: 249 };
const CMD_TIMEOUT_MS = 15_000;

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: CMD_TIMEOUT_MS });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
  }
}

function shSync(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: CMD_TIMEOUT_MS });
  } catch {
    // best effort (teardown)
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Effective capability bits of this process, from /proc/self/status. */
function effectiveCaps(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;

/**
 * Why namespaces cannot be used here (a sentence for a skipped test), or undefined when they can: not Linux, no
 * CAP_NET_ADMIN / CAP_SYS_ADMIN, `ip` or `iptables` missing, or creating a probe namespace with iptables in it fails.
 * Synchronous, so a test file can decide between describe and describe.skip.
 */
export function unavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  const caps = effectiveCaps();
  for (const [bit, name] of [[CAP_NET_ADMIN, 'CAP_NET_ADMIN'], [CAP_SYS_ADMIN, 'CAP_SYS_ADMIN']] as const) {
    if (((caps >> bit) & 1n) === 0n) return `this process lacks ${name} (run as root): it cannot create network namespaces and veth pairs`;
  }
  for (const [tool, pkg] of [['ip', 'iproute2'], ['iptables', 'iptables']] as const) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore', timeout: CMD_TIMEOUT_MS });
    } catch {
      try {
        execFileSync(tool, ['-V'], { stdio: 'ignore', timeout: CMD_TIMEOUT_MS });
      } catch {
        return `the '${tool}' command is missing or fails (Debian: apt-get install ${pkg})`;
      }
    }
  }
  const probe = `${NS_PREFIX}${process.pid}-probe`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe', timeout: CMD_TIMEOUT_MS });
    execFileSync('ip', ['netns', 'exec', probe, 'iptables', '-w', '5', '-S', 'OUTPUT'], { stdio: 'pipe', timeout: CMD_TIMEOUT_MS });
    return undefined;
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    return `creating a network namespace with iptables in it failed: ${(e.stderr?.toString() || e.message).trim()}`;
  } finally {
    shSync('ip', ['netns', 'del', probe]);
  }
}

/** Owner pid encoded in a namespace or link name made here, or undefined for other names. */
function ownerOfNamespace(name: string): number | undefined {
  const m = new RegExp(`^${NS_PREFIX}(\\d+)-`).exec(name);
  return m ? Number(m[1]) : undefined;
}

function ownerOfLink(name: string): number | undefined {
  const m = new RegExp(`^${LINK_PREFIX}([0-9a-z]+)h\\d+[xy]?$`).exec(name);
  return m ? parseInt(m[1]!, 36) : undefined;
}

async function listNamespaces(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']).catch(() => '');
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean);
}

async function listLinks(): Promise<string[]> {
  const out = await sh('ip', ['-o', 'link', 'show']).catch(() => '');
  return out.split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '').filter(Boolean);
}

/** Removes namespaces and host-side links of earlier runs whose test process is gone. Returns what it removed. */
export async function removeLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await listNamespaces()) {
    const owner = ownerOfNamespace(ns);
    if (owner === undefined || (owner !== process.pid && pidAlive(owner))) continue;
    if (owner === process.pid && !ns.endsWith('-probe')) continue;
    await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    removed.push(ns);
  }
  for (const link of await listLinks()) {
    const owner = ownerOfLink(link);
    if (owner === undefined || owner === process.pid || pidAlive(owner)) continue;
    await sh('ip', ['link', 'del', link]).catch(() => undefined);
    removed.push(link);
  }
  return removed;
}

/** One DROP rule set inside a namespace; `heal()` removes it. */
export class Cut {
  private healed = false;

  constructor(
    readonly ns: Namespace,
    readonly description: string,
    private readonly rules: string[][],
    readonly at: number,
  ) {}

  get active(): boolean {
    return !this.healed;
  }

  async heal(): Promise<number> {
    if (this.healed) return Date.now();
    this.healed = true;
    // Reverse order: an ACCEPT exception inserted after its DROP goes first.
    for (const r of [...this.rules].reverse()) await this.ns.iptables(['-D', ...r]).catch(() => undefined);
    this.ns.forget(this);
    return Date.now();
  }
}

/** What a cut drops, from the point of view of the namespace's processes. */
export interface CutSpec {
  /** Outgoing TCP connections to these `host:port`s (e.g. etcd's client port at 127.0.0.1). */
  to?: { host: string; port: number }[];
  /** Every outgoing TCP connection to 127.0.0.0/8 (the host's services) except to these ports. */
  allHostPortsExcept?: number[];
  /** Incoming TCP connections to these local ports (e.g. the component's gRPC port). */
  inboundPorts?: number[];
  /** Outgoing TCP connections to these addresses (e.g. another namespace's), any port. */
  toAddresses?: string[];
}

export class Namespace {
  private readonly cuts = new Set<Cut>();

  constructor(
    readonly name: string,
    /** The address inside the namespace: what its processes listen on and advertise. */
    readonly address: string,
    /** The host end's address. */
    readonly hostAddress: string,
    readonly hostLink: string,
  ) {}

  /** The command prefix that runs a program inside the namespace. */
  get exec(): string[] {
    return ['ip', 'netns', 'exec', this.name];
  }

  async iptables(args: string[]): Promise<void> {
    await sh('ip', ['netns', 'exec', this.name, 'iptables', '-w', '5', ...args]);
  }

  /** Applies a partition; returns its handle (heal() removes it). */
  async cut(description: string, spec: CutSpec): Promise<Cut> {
    const rules: string[][] = [];
    for (const t of spec.to ?? []) rules.push(['OUTPUT', '-p', 'tcp', '-d', t.host, '--dport', String(t.port), '-j', 'DROP']);
    for (const a of spec.toAddresses ?? []) rules.push(['OUTPUT', '-p', 'tcp', '-d', a, '-j', 'DROP']);
    for (const p of spec.inboundPorts ?? []) rules.push(['INPUT', '-p', 'tcp', '--dport', String(p), '-j', 'DROP']);
    if (spec.allHostPortsExcept) {
      rules.push(['OUTPUT', '-p', 'tcp', '-d', '127.0.0.0/8', '-j', 'DROP']);
      // Inserted in front of that DROP (`-I` puts each at the top).
      for (const p of spec.allHostPortsExcept) rules.push(['OUTPUT', '-p', 'tcp', '-d', '127.0.0.0/8', '--dport', String(p), '-j', 'ACCEPT']);
    }
    const applied: string[][] = [];
    try {
      for (const r of rules) {
        await this.iptables(['-I', ...r]);
        applied.push(r);
      }
    } catch (err) {
      for (const r of applied.reverse()) await this.iptables(['-D', ...r]).catch(() => undefined);
      throw err;
    }
    const c = new Cut(this, description, applied, Date.now());
    this.cuts.add(c);
    return c;
  }

  /** Removes every cut still active. */
  async healAll(): Promise<void> {
    for (const c of [...this.cuts]) await c.heal();
  }

  forget(c: Cut): void {
    this.cuts.delete(c);
  }
}

/** The namespaces and veth pairs of one test run. */
export class NetLab {
  private readonly namespaces: Namespace[] = [];
  private readonly hostLinks: string[] = [];
  private slots = 0;
  private pairs = 0;
  private disposed = false;
  private readonly onExit = (): void => this.disposeNow();

  private constructor(
    /** Third octet of this run's 169.254.X.0/24. */
    readonly octet: number,
    /** What removeLeftovers() removed before this run began. */
    readonly leftovers: string[],
  ) {
    process.on('exit', this.onExit);
  }

  /** Removes leftovers of crashed runs, then picks a 169.254.X.0/24 no interface uses. */
  static async create(): Promise<NetLab> {
    const leftovers = await removeLeftovers();
    const used = new Set<number>();
    const addrs = await sh('ip', ['-4', '-o', 'addr', 'show']);
    for (const m of addrs.matchAll(/inet 169\.254\.(\d+)\./g)) used.add(Number(m[1]));
    const routes = await sh('ip', ['-4', 'route', 'show']);
    for (const m of routes.matchAll(/169\.254\.(\d+)\./g)) used.add(Number(m[1]));
    // Start from a place that depends on the pid, so concurrent runs rarely try the same /24 first.
    const span = OCTETS.to - OCTETS.from + 1;
    for (let i = 0; i < span; i++) {
      const octet = OCTETS.from + ((process.pid + i) % span);
      if (!used.has(octet)) return new NetLab(octet, leftovers);
    }
    throw new Error(`no free 169.254.X.0/24 with X in ${OCTETS.from}..${OCTETS.to}`);
  }

  private slot(): { a: string; b: string } {
    const k = this.slots++;
    if (k >= 64) throw new Error('at most 64 namespaces and links per run');
    return { a: `169.254.${this.octet}.${4 * k + 1}`, b: `169.254.${this.octet}.${4 * k + 2}` };
  }

  private linkName(k: number): string {
    return `${LINK_PREFIX}${process.pid.toString(36)}h${k}`;
  }

  /** A new namespace joined to the host by a veth pair; 127.0.0.0/8 inside leads to the host. */
  async namespace(): Promise<Namespace> {
    if (this.disposed) throw new Error('NetLab disposed');
    const k = this.namespaces.length;
    const name = `${NS_PREFIX}${process.pid}-${k}`;
    const { a: hostAddr, b: nsAddr } = this.slot();
    const host = this.linkName(this.pairs++);
    const inner = `${host}n`;
    await sh('ip', ['netns', 'add', name]);
    this.namespaces.push(new Namespace(name, nsAddr, hostAddr, host));
    await sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', inner]);
    this.hostLinks.push(host);
    await sh('ip', ['link', 'set', inner, 'netns', name]);
    await sh('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', host]);
    await sh('sysctl', ['-qw', `net.ipv4.conf.${host}.route_localnet=1`]);
    await sh('ip', ['link', 'set', host, 'up']);
    const inNs = (args: string[]): Promise<string> => sh('ip', ['netns', 'exec', name, ...args]);
    await inNs(['ip', 'link', 'set', 'lo', 'up']);
    // Without 127.0.0.1 on lo, 127.0.0.0/8 is no longer local here and follows the route below to the host.
    await inNs(['ip', 'addr', 'del', '127.0.0.1/8', 'dev', 'lo']);
    await inNs(['ip', 'addr', 'add', `${nsAddr}/30`, 'dev', inner]);
    await inNs(['sysctl', '-qw', `net.ipv4.conf.${inner}.route_localnet=1`]);
    await inNs(['ip', 'link', 'set', inner, 'up']);
    await inNs(['ip', 'route', 'add', '127.0.0.0/8', 'via', hostAddr, 'dev', inner, 'src', nsAddr]);
    return this.namespaces[k]!;
  }

  /**
   * A veth pair between two namespaces, with routes so that each reaches the other's address (the one its
   * processes listen on); traffic between them does not pass through the host.
   */
  async link(x: Namespace, y: Namespace): Promise<void> {
    const { a, b } = this.slot();
    const name = this.linkName(this.pairs++);
    const ends = [`${name}x`, `${name}y`];
    await sh('ip', ['link', 'add', ends[0]!, 'type', 'veth', 'peer', 'name', ends[1]!]);
    for (const [ns, dev, own, peer, peerNs] of [[x, ends[0]!, a, b, y], [y, ends[1]!, b, a, x]] as const) {
      await sh('ip', ['link', 'set', dev, 'netns', ns.name]);
      const inNs = (args: string[]): Promise<string> => sh('ip', ['netns', 'exec', ns.name, ...args]);
      await inNs(['ip', 'addr', 'add', `${own}/30`, 'dev', dev]);
      await inNs(['ip', 'link', 'set', dev, 'up']);
      await inNs(['ip', 'route', 'add', `${peerNs.address}/32`, 'via', peer, 'dev', dev, 'src', ns.address]);
    }
  }

  /** Removes every namespace (and so its veth pairs) and host end of this run. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    for (const ns of this.namespaces) await ns.healAll().catch(() => undefined);
    this.disposeNow();
  }

  private disposeNow(): void {
    if (this.disposed) return;
    this.disposed = true;
    process.off('exit', this.onExit);
    for (const l of this.hostLinks) shSync('ip', ['link', 'del', l]);
    for (const ns of this.namespaces) shSync('ip', ['netns', 'del', ns.name]);
  }
}
