/**
 * The `media-edge` command.
 *
 *   media-edge render --settings FILE --out DIR   validate, render the nginx
 *                                                 config into DIR, run nginx -t
 *   media-edge install [--settings FILE] [--dir DIR] [--no-reload]
 *                                                 as root: render into the nginx
 *                                                 this machine runs (tools/install.ts)
 *   media-edge check  --settings FILE             validate only
 *   media-edge docs [--out FILE]                  write the settings reference to
 *                                                 FILE (default: docs/settings.md
 *                                                 of this package; "-" prints it)
 *   media-edge deps [--demo | --test | --bench]   check (and as root install) packages
 *   media-edge demo   [--dir DIR] [--http-port N] [--rtmp-port N]
 *   media-edge mint-key --settings FILE --app APP --stream NAME [--ttl S] [--kid 1|2]
 *                                                 an expiring publish key (hmac mode)
 *   media-edge mint-token --settings FILE --path URL-PATH [--scope SCOPE] [--ttl S]
 *                         [--kid ID] [--ip ADDR] [--start UNIX]
 *                                                 a playback token (hmac scheme) and
 *                                                 a ready playback URL
 *   media-edge revoke|unrevoke [--settings FILE] (--token-id ID | --kid KID | --token TOKEN|URL)
 *                         [--nginx-conf CONF] [--no-reload]
 *   media-edge revoke --list [--settings FILE]
 *                                                 change playback_revoked_file, nginx -t,
 *                                                 reload (tools/revoke.ts)
 *
 * Exit status: 0 done, 1 failed, 2 a usage error (nothing was done).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_REQUIREMENTS, DEMO_REQUIREMENTS, ensureDeps, EDGE_REQUIREMENTS, installHint, missing, TEST_REQUIREMENTS } from './deps.ts';
import { runDemo } from './demo.ts';
import { goldenDiff, writeGolden } from './golden.ts';
import { install } from './install.ts';
import { detectNjsShared, detectQjs, testConfig } from './nginx.ts';
import { PACKAGE_ROOT } from './paths.ts';
import { render, tokenParam, writeRendered } from './render.ts';
import { revokeCommand } from './revoke.ts';
import { settingsReference, validate, type Settings } from './settings.ts';
import { signPublish } from '../njs/publish.ts';
import { mintToken, type MeToken } from '../njs/token.ts';
import { parseRevocations } from '../njs/auth.ts';

const USAGE = `usage:
  media-edge install [--settings FILE] [--dir DIR] [--no-reload]
      As root: render the settings (default /etc/media-edge/edge.json) into DIR
      (default /etc/nginx/media-edge), give the state and cache directories to
      nginx's worker user, run nginx -t, reload nginx where it includes the
      snippets, and print the include lines still to add. Run it again after
      every settings change; a failure leaves nginx and its config as they were.
  media-edge render --settings FILE --out DIR [--no-test]
      Render anywhere, as any user, and run nginx -t on the complete example.
  media-edge check --settings FILE
  media-edge docs [--out FILE|-]   (default: docs/settings.md of this package)
  media-edge golden [--update]
  media-edge deps [--demo | --test | --bench]
  media-edge demo [--dir DIR] [--http-port N] [--rtmp-port N]
  media-edge mint-key --settings FILE --app APP --stream NAME [--ttl SECONDS] [--kid 1|2] [--play]
  media-edge mint-token --settings FILE --path /APP/STREAM/playlist.m3u8 [--scope /APP/STREAM/*] [--ttl SECONDS] [--kid ID] [--ip ADDR] [--start UNIX]
  media-edge revoke [--settings FILE] (--token-id ID | --kid KID | --token TOKEN|URL) [--nginx-conf CONF] [--no-reload]
  media-edge unrevoke [--settings FILE] (--token-id ID | --kid KID | --token TOKEN|URL) [--nginx-conf CONF] [--no-reload]
  media-edge revoke --list [--settings FILE]
      Add (remove) a "token:<id> revoked;" or "kid:<key id> revoked;" line in
      playback_revoked_file of the settings (default /etc/media-edge/edge.json),
      run nginx -t and reload nginx: the system nginx (as install), or with
      --nginx-conf the edge started as nginx -c CONF -p <state_dir>. --token
      takes a whole hmac or Akamai token, or a viewer's URL (any scheme, or a
      link's). If nginx -t refuses, the file is put back and nothing reloads.
Exit status: 0 done (also "already revoked"), 1 failed, 2 a usage error (nothing was done).`;

/** A mistake in how the command was called: exit status 2, nothing done. */
class UsageError extends Error {}

/** Read and validate a settings file; errors name the setting. */
function readSettings(file: string): { settings: Settings; baseDir: string } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const v = validate(json);
  if (!v.ok) throw new Error(`${file}: invalid settings:\n  ${v.errors.join('\n  ')}`);
  return { settings: v.value, baseDir: dirname(resolve(file)) };
}

/** readSettings, and the revocation file checked too. */
export function loadSettings(file: string): { settings: Settings; baseDir: string } {
  const { settings, baseDir } = readSettings(file);
  // nginx includes the revocation file in maps: one bad line fails every
  // reload, and the old revocations would silently stay. Refuse it here.
  const revoked = settings.playback_revoked_file ? resolve(baseDir, settings.playback_revoked_file) : '';
  if (revoked && existsSync(revoked)) {
    const errors = parseRevocations(readFileSync(revoked, 'utf8')).errors;
    if (errors.length) throw new Error(`${revoked}: ${errors.join(`\n${revoked}: `)}`);
  }
  return { settings, baseDir };
}

function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      settings: { type: 'string' },
      out: { type: 'string' },
      'no-test': { type: 'boolean' },
      'no-reload': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      demo: { type: 'boolean' },
      test: { type: 'boolean' },
      bench: { type: 'boolean' },
      dir: { type: 'string' },
      'http-port': { type: 'string' },
      'rtmp-port': { type: 'string' },
      update: { type: 'boolean' },
      app: { type: 'string' },
      stream: { type: 'string' },
      ttl: { type: 'string' },
      kid: { type: 'string' },
      play: { type: 'boolean' },
      path: { type: 'string' },
      scope: { type: 'string' },
      ip: { type: 'string' },
      start: { type: 'string' },
      'token-id': { type: 'string' },
      token: { type: 'string' },
      'nginx-conf': { type: 'string' },
      list: { type: 'boolean' },
    },
  });
  if (values.help || cmd === 'help' || cmd === '--help') {
    console.log(`${USAGE}\n\nSettings: ${join(PACKAGE_ROOT, 'docs', 'settings.md')} (every setting: syntax, default, context).`);
    return 0;
  }
  switch (cmd) {
    case 'install': {
      const file = values.settings ?? '/etc/media-edge/edge.json';
      const { settings, baseDir } = loadSettings(file);
      const present = missing(EDGE_REQUIREMENTS).length === 0;
      if (!present) throw new Error(installHint(missing(EDGE_REQUIREMENTS)));
      const r = install({ settings, baseDir, dir: values.dir ?? '/etc/nginx/media-edge', njsShared: detectNjsShared(), qjs: detectQjs(), reload: !values['no-reload'] });
      for (const l of r.lines) (r.code ? console.error : console.log)(l);
      return r.code;
    }
    case 'check':
    case 'render': {
      if (!values.settings) throw new UsageError(`--settings FILE is required\n${USAGE}`);
      const { settings, baseDir } = loadSettings(values.settings);
      if (cmd === 'check') {
        console.log(`${values.settings}: ok`);
        return 0;
      }
      if (!values.out) throw new UsageError(`--out DIR is required\n${USAGE}`);
      const out = resolve(values.out);
      const present = missing(EDGE_REQUIREMENTS).length === 0;
      const njsShared = present && detectNjsShared();
      const qjs = present && detectQjs();
      for (const w of writeRendered(render(settings, { baseDir, confDir: out, njsShared, qjs }), out, settings, baseDir)) console.error(`warning: ${w}`);
      console.log(`rendered ${out}/{nginx.conf,media-edge-*.conf}`);
      if (values['no-test'] || missing(EDGE_REQUIREMENTS).length) return 0;
      const stateDir = resolve(baseDir, settings.state_dir);
      const t = testConfig(join(out, 'nginx.conf'), stateDir, join(stateDir, 'logs', 'error.log'));
      if (!t.ok) {
        console.error(`nginx -t rejected ${join(out, 'nginx.conf')}:\n${t.output}`);
        return 1;
      }
      console.log('nginx -t: ok');
      return 0;
    }
    case 'docs': {
      if (values.out === '-') {
        process.stdout.write(settingsReference());
        return 0;
      }
      const out = values.out ?? join(PACKAGE_ROOT, 'docs', 'settings.md');
      mkdirSync(dirname(resolve(out)), { recursive: true });
      writeFileSync(out, settingsReference());
      console.log(`${out}: settings reference written`);
      return 0;
    }
    case 'golden': {
      if (values.update) {
        console.log(`test/golden: ${writeGolden()} files rendered from nginx/examples`);
        return 0;
      }
      const diff = goldenDiff();
      for (const d of diff) console.log(d);
      console.log(diff.length ? 'test/golden differs from what the renderer makes: check the change, then `npm run golden`' : 'test/golden: up to date');
      return diff.length ? 1 : 0;
    }
    case 'deps':
      ensureDeps(values.bench ? BENCH_REQUIREMENTS : values.test ? TEST_REQUIREMENTS : values.demo ? DEMO_REQUIREMENTS : EDGE_REQUIREMENTS, (s) => console.log(s));
      console.log('all required packages are present');
      return 0;
    case 'mint-key': {
      if (!values.settings || !values.app || !values.stream) throw new UsageError(`--settings, --app and --stream are required\n${USAGE}`);
      const { settings } = loadSettings(values.settings);
      const auth = settings.rtmp_auth[values.app] ?? settings.rtmp_auth['*'];
      if (!auth || auth.mode !== 'hmac') throw new Error(`rtmp_auth.${values.app}: not in hmac mode, so it takes no minted keys`);
      if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(values.stream)) throw new UsageError('--stream: letters, digits, "_", ".", ":", "-" (1-128)');
      const kid = Number(values.kid ?? '1');
      const secret = auth.secrets?.[kid - 1];
      if (!secret) throw new Error(`--kid ${values.kid}: rtmp_auth.${values.app}.secrets has no secret ${kid}`);
      const ttl = Number(values.ttl ?? '86400');
      if (!Number.isInteger(ttl) || ttl < 1) throw new UsageError('--ttl: a whole number of seconds');
      const exp = Math.floor(Date.now() / 1000) + ttl;
      const key = `${values.stream}?exp=${exp}&sig=${signPublish(secret, values.app, values.stream, exp, values.play ? 'play' : 'publish')}&kid=${kid}`;
      const host = settings.listen_rtmp.includes(':') ? settings.listen_rtmp : `127.0.0.1:${settings.listen_rtmp}`;
      console.log(`stream key: ${key}`);
      console.log(`${values.play ? 'play from' : 'publish to'}: rtmp://${host.replace(/^0\.0\.0\.0/, '<edge>')}/${values.app}/${key}`);
      console.log(`expires:    ${new Date(exp * 1000).toISOString()}`);
      return 0;
    }
    case 'mint-token': {
      if (!values.settings || !values.path) throw new UsageError(`--settings and --path are required\n${USAGE}`);
      const { settings } = loadSettings(values.settings);
      const path = values.path;
      if (!/^\/[^/?#\s]+\/[^?#\s]*[^/?#\s]$/.test(path)) throw new UsageError('--path: the URL path viewers open, e.g. /live/cam1/playlist.m3u8');
      const app = path.split('/')[1];
      const auth = settings.playback_auth[app];
      if (!auth || auth.scheme !== 'hmac') throw new Error(`playback_auth.${app}: not the hmac scheme, so it takes no minted tokens`);
      const kid = values.kid ?? Object.keys(auth.keys ?? {})[0];
      const key = auth.keys?.[kid];
      if (!key) throw new Error(`--kid ${kid}: playback_auth.${app}.keys has no key "${kid}"`);
      const ttl = Number(values.ttl ?? '3600');
      if (!Number.isInteger(ttl) || ttl < 1) throw new UsageError('--ttl: a whole number of seconds');
      const now = Math.floor(Date.now() / 1000);
      const claims: MeToken = { exp: now + ttl, path: values.scope ?? path.slice(0, path.lastIndexOf('/') + 1) + '*', kid };
      if (values.start !== undefined) claims.st = Number(values.start);
      if (values.ip !== undefined) claims.ip = values.ip;
      const minted = mintToken(claims, key);
      if (!minted.ok) throw new Error(`cannot mint: ${minted.error}`);
      const listen = settings.listen_https || settings.listen_http;
      const host = (listen.includes(':') ? listen : `127.0.0.1:${listen}`).replace(/^0\.0\.0\.0/, '<edge>');
      console.log(`token:    ${minted.token}`);
      console.log(`scope:    ${claims.path}`);
      console.log(`play:     ${settings.listen_https ? 'https' : 'http'}://${host}${path}?${tokenParam(auth)}=${encodeURIComponent(minted.token)}`);
      console.log(`expires:  ${new Date(claims.exp * 1000).toISOString()}`);
      return 0;
    }
    case 'revoke':
    case 'unrevoke': {
      const settingsFile = values.settings ?? '/etc/media-edge/edge.json';
      const r = revokeCommand({
        action: cmd, list: values.list === true, settingsFile, tokenId: values['token-id'], kid: values.kid, token: values.token,
        nginxConf: values['nginx-conf'] === undefined ? undefined : resolve(values['nginx-conf']), reload: !values['no-reload'],
      }, () => readSettings(settingsFile));
      for (const l of r.lines) (r.code ? console.error : console.log)(l);
      return r.code;
    }
    case 'demo':
      void runDemo({
        dir: values.dir ?? join(process.cwd(), '.demo'),
        httpPort: Number(values['http-port'] ?? 8080),
        rtmpPort: Number(values['rtmp-port'] ?? 1935),
      });
      return -1; // keeps running
    default:
      console.error(USAGE);
      return cmd ? 2 : 0;
  }
}

try {
  const code = main(process.argv.slice(2));
  if (code >= 0) process.exitCode = code;
} catch (e) {
  console.error(`media-edge: ${(e as Error).message}`);
  // parseArgs's refusals (an unknown option, a missing value) are usage errors too.
  process.exitCode = e instanceof UsageError || /^ERR_PARSE_ARGS_/.test(String((e as { code?: unknown }).code)) ? 2 : 1;
}
