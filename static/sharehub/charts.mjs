// Draws the insights charts with Chart.js, which the page loads first as a classic deferred script
// (its UMD build sets window.Chart; the ES module build needs an import map, which a CSP without
// 'unsafe-inline' forbids). Each <canvas data-chart="ID" hidden> takes its figures from the
// <script type="application/json" id="ID"> that Django's json_script filter writes:
//
//   {"type": "bar" | "line" | "horizontalBar" | "stackedBar" | "matrix-as-bar",
//    "title": "...", "labels": [...], "series": [{"label": "...", "values": [120, null, 35]}],
//    "suppressed": [[false, true, false]], "x_title": "...", "y_title": "...",
//    "value_max": 100, "value_suffix": "%"}
//
// x_title names the axis of the labels and y_title the axis of the values, whichever way round
// the chart is drawn. value_max (optional) fixes the top of the value axis, and value_suffix
// (optional) follows each value on that axis and in the tooltips: percentages use both.
// sharehub/charts.py (chart_data) writes this contract. The page always has a table with the same figures beside the chart, so a
// chart that cannot be drawn stays hidden and nothing is lost.

const COLOURS = ['#1d70b8', '#00703c', '#d4351c', '#f47738', '#4c2c92', '#28a197', '#505a5f']
const TEXT_COLOUR = '#0b0c0c'
const GRID_COLOUR = '#b1b4b6'
const FONT_FAMILY = '"GDS Transport", arial, sans-serif'
const ROW_HEIGHT = 24 // pixels per bar in a horizontal chart, so long lists stay readable

const Chart = window.Chart

function chartConfig (data) {
  const horizontal = data.type === 'horizontalBar'
  const stacked = data.type === 'stackedBar'
  const type = data.type === 'line' ? 'line' : 'bar'
  const suppressed = data.suppressed || []

  const datasets = data.series.map((series, s) => {
    const colour = COLOURS[s % COLOURS.length]
    // A suppressed count is never drawn, not even as zero: it becomes a gap. The values are null
    // already; the flag is checked as well so that a slip on the server side cannot draw one.
    const values = series.values.map((value, i) => (suppressed[s] && suppressed[s][i]) ? null : value)
    const dataset = { label: series.label, data: values, backgroundColor: colour, borderColor: colour }
    if (type === 'line') {
      Object.assign(dataset, { borderWidth: 3, pointRadius: 4, fill: false, spanGaps: false, tension: 0 })
    }
    return dataset
  })

  const axisTitle = (text) => ({ display: Boolean(text), text: text || '', color: TEXT_COLOUR })
  const labelScale = { stacked, title: axisTitle(data.x_title), grid: { display: false } }
  const suffix = data.value_suffix || ''
  const valueScale = {
    stacked,
    beginAtZero: true,
    title: axisTitle(data.y_title),
    ticks: { precision: 0, callback: (value) => `${value}${suffix}` }, // counts are whole numbers
    grid: { color: GRID_COLOUR }
  }
  if (typeof data.value_max === 'number') valueScale.max = data.value_max

  return {
    type,
    data: { labels: data.labels, datasets },
    options: {
      indexAxis: horizontal ? 'y' : 'x',
      // No animation: screenshots in the browser tests are then deterministic, and people who
      // ask for reduced motion get none.
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: horizontal ? { x: valueScale, y: labelScale } : { x: labelScale, y: valueScale },
      plugins: {
        // The page's heading names the chart; a single series needs no key.
        legend: { display: datasets.length > 1, position: 'bottom' },
        tooltip: {
          callbacks: {
            label (item) {
              const hidden = suppressed[item.datasetIndex] && suppressed[item.datasetIndex][item.dataIndex]
              const value = hidden ? 'suppressed (small number)' : `${item.formattedValue}${suffix}`
              return `${item.dataset.label}: ${value}`
            }
          }
        }
      }
    }
  }
}

function draw (canvas) {
  const source = document.getElementById(canvas.dataset.chart)
  if (!source) return
  const data = JSON.parse(source.textContent)
  const title = data.title ? `${data.title}. ` : ''
  canvas.setAttribute('role', 'img')
  canvas.setAttribute('aria-label', `${title}Chart; the table below gives the figures.`)
  canvas.hidden = false

  const box = canvas.parentElement
  if (data.type === 'horizontalBar') {
    const needed = data.labels.length * data.series.length * ROW_HEIGHT + 4 * ROW_HEIGHT
    if (needed > box.clientHeight) box.style.height = `${needed}px`
  }
  new Chart(canvas, chartConfig(data))
  canvas.dataset.drawn = 'true'
}

if (Chart) {
  Chart.defaults.font.family = FONT_FAMILY
  Chart.defaults.color = TEXT_COLOUR
  // Text on a canvas is drawn once, in whichever font is loaded at that moment.
  if (document.fonts) await document.fonts.ready
  for (const canvas of document.querySelectorAll('canvas[data-chart]')) {
    try {
      draw(canvas)
    } catch (error) {
      // One malformed chart leaves only itself undrawn; its table still gives the figures.
      canvas.hidden = true
      console.error(`Chart ${canvas.dataset.chart} was not drawn`, error)
    }
  }
}
