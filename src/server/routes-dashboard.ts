/** Placeholder replaced below. */
import type { FastifyInstance } from 'fastify';
export function registerDashboardRoutes(_app: FastifyInstance): void {}
