/** The bench's baseline: a bare Fastify server whose route answers a constant (see http.ts). */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/constant', async () => ({ output: 42 }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close());
