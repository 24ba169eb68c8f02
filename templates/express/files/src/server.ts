import { createServer } from 'node:http';
import { createApp } from './app';
import { kafkaEnabled, loadConfig } from './config';
import { buildDependencies } from './deps';
import { Hub, LocalBus, type EventBus } from './events';
import { KafkaBus } from './kafka';
import { Logger } from './logger';
import { Metrics } from './metrics';
import { SERVICE_NAME } from './project';
import { attachEventStream } from './ws';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = new Logger(SERVICE_NAME, config.version, config.logLevel);
  const metrics = new Metrics();
  const hub = new Hub(metrics);
  const deps = buildDependencies(config, metrics, log);

  let bus: EventBus;
  if (kafkaEnabled(config)) {
    bus = new KafkaBus(config.kafkaBrokers, hub, metrics, log);
  } else {
    log.info('KAFKA_BOOTSTRAP_SERVERS not set: events stay in-process');
    bus = new LocalBus(hub, metrics);
  }
  await bus.start();

  const { app, control } = createApp({ config, log, metrics, bus, deps });
  const server = createServer(app);
  server.requestTimeout = 15_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 60_000;
  const closeStreams = attachEventStream(server, hub, metrics, log);

  server.listen(config.port, () => {
    log.info('listening', { port: config.port, kafka: kafkaEnabled(config) });
  });

  let shuttingDown = false;
  const shutdown = (signal: string): void => {
    if (shuttingDown) {
      return;
    }
    shuttingDown = true;
    // Graceful shutdown: fail readiness, stop accepting, let in-flight requests
    // finish, close WebSockets, then the producer/consumer and the databases.
    log.info('shutting down', { signal, grace_seconds: config.shutdownGraceMs / 1000 });
    control.setDraining();
    closeStreams();
    const force = setTimeout(() => {
      log.warn('grace period over, closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownGraceMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      void (async () => {
        await bus.close().catch((err) => log.warn('closing kafka failed', { error: err }));
        await deps.close().catch((err) => log.warn('closing dependencies failed', { error: err }));
        log.info('stopped');
        process.exit(0);
      })();
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', msg: err instanceof Error ? err.message : String(err), service: SERVICE_NAME })}\n`,
  );
  process.exit(1);
});
