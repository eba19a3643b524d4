// tls.mjs: a CA made here with openssl, and nginx terminating TLS in front of
// a plain HTTP server: the HTTPS upstream of the e2e and static suites.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

// In dir: ca.pem, and server.pem/server.key for hosts (and 127.0.0.1)
// signed by it; wrong-ca.pem, a CA that signed nothing.
export function makeCerts(dir, hosts) {
  const ossl = (...a) => sh('openssl', a, { cwd: dir });
  for (const ca of ['ca', 'wrong-ca']) {
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2',
      '-subj', `/CN=openai-fcgi test ${ca}`, '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${hosts[0]}`);
  const alt = [...hosts.map((h) => `DNS:${h}`), 'IP:127.0.0.1'].join(',');
  fs.writeFileSync(path.join(dir, 'server.ext'), `subjectAltName=${alt}\nbasicConstraints=CA:FALSE\n` +
    'keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  ossl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
}

// nginx terminating TLS for serverName (the certificate of makeCerts in
// dir) in front of http://127.0.0.1:backendPort; it keeps an idle client
// connection keepaliveS seconds. Its access log (dir/nginx-access.log) says
// per request the connection's number and how many it has carried.
export async function startTlsProxy(dir, backendPort, serverName, { keepaliveS = 75 } = {}) {
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx.log info;
events { worker_connections 64; }
http {
	log_format conns '$connection $connection_requests $status $request';
	access_log ${dir}/nginx-access.log conns;
	keepalive_timeout ${keepaliveS}s;
	client_body_temp_path ${dir}/nginx-body;
	proxy_temp_path ${dir}/nginx-proxy;
	fastcgi_temp_path ${dir}/nginx-fastcgi;
	uwsgi_temp_path ${dir}/nginx-uwsgi;
	scgi_temp_path ${dir}/nginx-scgi;
	server {
		listen 127.0.0.1:${port} ssl;
		server_name ${serverName};
		ssl_certificate ${dir}/server.pem;
		ssl_certificate_key ${dir}/server.key;
		location / {
			proxy_pass http://127.0.0.1:${backendPort};
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
		}
	}
}
`);
  const p = spawn('nginx', ['-e', `${dir}/nginx.log`, '-p', dir, '-c', `${dir}/nginx.conf`],
    { stdio: 'ignore', detached: true });
  for (let i = 0; i < 100; i++) {
    if (spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', serverName],
      { input: '', stdio: ['pipe', 'ignore', 'ignore'], timeout: 2000 }).status === 0) break;
    await sleep(50);
  }
  return { port, pid: p.pid };
}

// The access log's lines: { conn, nth, status, request }.
export function tlsRequests(dir) {
  const f = path.join(dir, 'nginx-access.log');
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => {
    const [conn, nth, status, ...request] = l.split(' ');
    return { conn: Number(conn), nth: Number(nth), status: Number(status), request: request.join(' ') };
  });
}
