// Draws the API docs page with Swagger UI, which the page loads first as a classic deferred script
// (swagger-ui-bundle.js sets window.SwaggerUIBundle). Kept in a file, not inline, so the page has
// the same Content Security Policy as every other: Swagger UI needs no exception to it (its
// styles are in swagger-ui.css or set from script, and its icons are data: images).
//
// The page is for reading. "Try it out" would send real calls, as the person reading, about real
// safeguarding records; the agency's systems make those calls, with a token, from their own code.

const SwaggerUIBundle = window.SwaggerUIBundle
const container = document.getElementById('swagger-ui')

// Swagger UI's BaseLayout puts the operations in a <main>, inside the page's own <main>: two main
// landmarks, and a screen reader's "skip to main" could land in either. This is BaseLayout for an
// OpenAPI 3.0 schema (what drf-spectacular writes) with a <div> there; until the schema has
// loaded, and if it fails to, BaseLayout itself shows the loading or error state.
function DocsLayoutPlugin (system) {
  const h = system.React.createElement
  const DocsLayout = ({ getComponent, specSelectors }) => {
    if (!specSelectors.specStr() || specSelectors.loadingStatus() !== 'success') {
      return h(getComponent('BaseLayout', true))
    }
    const Row = getComponent('Row')
    const Col = getComponent('Col')
    const whole = (component) => h(Row, null, h(Col, { mobile: 12, desktop: 12 }, h(getComponent(component, true))))
    return h('div', { className: 'swagger-ui' },
      h(getComponent('SvgAssets')),
      h(getComponent('errors', true)),
      h(Row, { className: 'information-container' }, h(Col, { mobile: 12 }, h(getComponent('InfoContainer', true)))),
      specSelectors.securityDefinitions()
        ? h('div', { className: 'scheme-container' },
          h(Col, { className: 'schemes wrapper', mobile: 12 }, h(getComponent('AuthorizeBtnContainer', true))))
        : null,
      h('div', { id: 'operations' }, whole('operations'), whole('Models'))
    )
  }
  return { components: { DocsLayout } }
}

if (SwaggerUIBundle && container) {
  SwaggerUIBundle({
    domNode: container,
    url: container.dataset.schemaUrl,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [DocsLayoutPlugin],
    layout: 'DocsLayout',
    supportedSubmitMethods: [],
    // Never send the schema to an outside validator, nor let ?url= or ?configUrl= in the
    // address point the page at another schema or configuration.
    validatorUrl: null,
    queryConfigEnabled: false,
    docExpansion: 'list',
    // Deep links make each operation's path a link inside its expand button: a control nested
    // in another, and a target too small to tap (WCAG 2.2, 2.5.8).
    deepLinking: false
  })
}
