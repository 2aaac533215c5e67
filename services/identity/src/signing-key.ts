import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateKeyPairSync, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: JWK;
}

/**
 * The Ed25519 key access tokens are signed with: from configuration (PEM), or in development
 * generated once into a git-ignored file so restarts keep issued tokens valid.
 */
export async function loadSigningKey(pem: string | undefined, keyFile: string): Promise<SigningKey> {
  let privateKey: KeyObject;
  if (pem) {
    privateKey = createPrivateKey(pem.includes('\\n') ? pem.replace(/\\n/g, '\n') : pem);
  } else if (fs.existsSync(keyFile)) {
    privateKey = createPrivateKey(fs.readFileSync(keyFile, 'utf8'));
  } else {
    privateKey = generateKeyPairSync('ed25519').privateKey;
    fs.mkdirSync(path.dirname(keyFile), { recursive: true });
    fs.writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('JWT_PRIVATE_KEY must be an Ed25519 private key (PKCS#8 PEM)');
  const publicJwk = await exportJWK(createPublicKey(privateKey));
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' } };
}
