/** Baseline: a bare Fastify hello-world (what one Node process on this machine answers at best). */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) }).then(
  (addr) => console.log(`listening ${addr}`),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => void app.close().then(() => process.exit(0)));
