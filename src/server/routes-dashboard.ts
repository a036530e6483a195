/** The class dashboard page: `/dashboard` (HTML), `/dashboard/app.js`, `/dashboard/style.css`. */
import type { FastifyInstance } from 'fastify';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard-page.js';

/** Registers the page routes (public: the data behind them is under /v1 and needs the token when one is set). */
export function registerDashboardRoutes(app: FastifyInstance): void {
  const page = (url: string, type: string, body: string): void => {
    app.get(url, { schema: { hide: true } }, async (_request, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  };
  page('/dashboard', 'text/html; charset=utf-8', DASHBOARD_HTML);
  page('/dashboard/', 'text/html; charset=utf-8', DASHBOARD_HTML);
  page('/dashboard/app.js', 'text/javascript; charset=utf-8', DASHBOARD_JS);
  page('/dashboard/style.css', 'text/css; charset=utf-8', DASHBOARD_CSS);
}
