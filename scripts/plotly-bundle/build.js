// The same esbuild settings as plotly.js's own esbuild-config.js (shaders inlined, regl deduplicated),
// minified, with one banner naming what the file is.
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
const version = require('plotly.js/package.json').version;

require('esbuild')
    .build({
        entryPoints: ['./entry.js'],
        outfile: process.argv[2],
        format: 'iife',
        globalName: 'Plotly',
        bundle: true,
        minify: true,
        legalComments: 'none',
        banner: {
            js: `/* plotly.js v${version} (MIT licence, Copyright Plotly, Inc.), traces scatter, scattergl and heatmap only;` +
                ' built by scripts/plotly-bundle (npm ci && npm run build) */'
        },
        plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
        alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
        define: { global: 'window', 'define.amd': 'false' },
        target: 'es2016',
        logLevel: 'warning'
    })
    .catch(() => process.exit(1));
