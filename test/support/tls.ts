/** A self-signed certificate for 127.0.0.1 under DIR/tls, made at test time with openssl. */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function makeCert(dir: string): void {
  mkdirSync(join(dir, 'tls'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls/key.pem'), '-out', join(dir, 'tls/cert.pem')], { stdio: 'ignore' });
  // Read by the nginx master (root in the tests), as a real key should be.
  chmodSync(join(dir, 'tls/key.pem'), 0o600);
}
