import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TestPki {
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** The name the server certificate carries (and 127.0.0.1). */
  serverName: string;
}

/** A CA, a server certificate for `serverName` and 127.0.0.1, and a client certificate, made with openssl (EC P-256, v3 extensions as rustls wants). */
export async function makeTestPki(dir: string, serverName = 'temporal.lifeboat.test'): Promise<TestPki> {
  const file = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execa('openssl', args, { cwd: dir });
  const key = (name: string) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(name)]);
  await key('ca.key');
  await openssl(['req', '-x509', '-new', '-key', file('ca.key'), '-days', '2', '-subj', '/CN=lifeboat test CA', '-out', file('ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const issue = async (name: string, subject: string, extensions: string) => {
    await key(`${name}.key`);
    await openssl(['req', '-new', '-key', file(`${name}.key`), '-subj', `/CN=${subject}`, '-out', file(`${name}.csr`)]);
    writeFileSync(file(`${name}.ext`), extensions);
    await openssl(['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`)]);
  };
  await issue('server', serverName, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${serverName},IP:127.0.0.1\n`);
  await issue('client', 'lifeboat worker', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  return {
    caFile: file('ca.pem'), serverCertFile: file('server.pem'), serverKeyFile: file('server.key'),
    clientCertFile: file('client.pem'), clientKeyFile: file('client.key'), serverName,
  };
}
