FROM node:22-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional && npm cache clean --force
COPY .gmrc tsconfig.json ./
COPY migrations ./migrations
COPY sql ./sql
COPY src ./src
USER node
ENV NODE_ENV=production
CMD ["node", "src/cli/start.ts"]
